//! The session's FrontSwatch reference: set from tokens JSON or a zip of tokens + screens,
//! kept as the uploaded bytes under the state dir, read back with its resolved tokens, its
//! screens and the site's drift score.

use std::path::{Path, PathBuf};

use devflow_protocol::{
    DriftReport, EventBody, Reference, ResolvedToken, SessionParams, SetReferenceParams,
};
use devflow_reference::{ReferenceBundle, ScreenFile};

use super::{Result, Service};
use crate::error::ServiceError;

const REFERENCE_FILES: [&str; 2] = ["reference.zip", "reference.json"];

impl Service {
    fn reference_dir(&self, session_id: &str) -> PathBuf {
        self.config().state_dir.join("references").join(session_id)
    }

    pub async fn set_reference(&self, params: SetReferenceParams) -> Result<Reference> {
        self.session(&params.session_id).await?;
        let (bytes, file_name, field) = match (&params.tokens, &params.path) {
            (Some(tokens), None) => {
                let bytes = serde_json::to_vec(tokens).map_err(|e| ServiceError::internal(e.to_string()))?;
                (bytes, "reference.json", "tokens")
            }
            (None, Some(path)) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| ServiceError::invalid("path", path.as_str(), format!("cannot read {path:?}: {e}")))?;
                let is_zip = bytes.starts_with(b"PK");
                (bytes, if is_zip { "reference.zip" } else { "reference.json" }, "path")
            }
            _ => {
                return Err(ServiceError::invalid(
                    "tokens",
                    serde_json::Value::Null,
                    "give either `tokens` (design tokens JSON) or `path` (a tokens JSON file or a zip of tokens and screens/)",
                ))
            }
        };
        let bundle = parse_bundle(file_name, &bytes)
            .map_err(|message| ServiceError::invalid(field, serde_json::Value::Null, message))?;
        let dir = self.reference_dir(&params.session_id);
        write_replacing(&dir, file_name, &bytes)
            .map_err(|e| ServiceError::internal(format!("cannot keep the reference: {e}")))?;
        let reference_id = uuid::Uuid::new_v4().to_string();
        let id = reference_id.clone();
        self.update_session(&params.session_id, |s| {
            s.reference_id = Some(id);
            Ok(())
        })
        .await?;
        tracing::info!(session_id = %params.session_id, tokens = bundle.tokens.len(), screens = bundle.screens.len(), "reference set");
        self.publish(
            &params.session_id,
            None,
            EventBody::ReferenceUpdated { reference_id },
        )
        .await?;
        self.get_reference(SessionParams {
            session_id: params.session_id,
        })
        .await
    }

    pub async fn get_reference(&self, params: SessionParams) -> Result<Reference> {
        let session = self.session(&params.session_id).await?;
        let reference_id = session.reference_id.clone().ok_or_else(|| ServiceError {
            field: Some("referenceId".into()),
            ..ServiceError::not_found(
                "sessionId",
                &session.session_id,
                "reference for the session",
            )
        })?;
        let bundle = self.reference_bundle(&session.session_id)?.ok_or_else(|| {
            ServiceError::internal("the session's reference file is missing from the state dir")
        })?;
        let drift = drift_of(&bundle.tokens, &self.workspace(&session));
        let base = format!(
            "{}/sessions/{}/reference/screens/",
            self.config().public_base_url,
            session.session_id
        );
        let mut reference = bundle.to_reference(reference_id, |screen: &ScreenFile| {
            format!("{base}{}", screen.name)
        });
        reference.drift_score = drift.map(|d| d.score);
        Ok(reference)
    }

    /// One reference screen's bytes and media type.
    pub async fn reference_screen(
        &self,
        session_id: &str,
        name: &str,
    ) -> Result<(String, Vec<u8>)> {
        self.session(session_id).await?;
        let bundle = self.reference_bundle(session_id)?;
        bundle
            .and_then(|b| b.screens.into_iter().find(|s| s.name == name))
            .map(|s| (s.media_type, s.bytes))
            .ok_or_else(|| ServiceError::not_found("name", name, "reference screen"))
    }

    /// The session's tokens, empty without a reference.
    pub(super) fn reference_tokens(&self, session_id: &str) -> Vec<ResolvedToken> {
        match self.reference_bundle(session_id) {
            Ok(Some(bundle)) => bundle.tokens,
            _ => Vec::new(),
        }
    }

    pub(super) fn reference_bundle(&self, session_id: &str) -> Result<Option<ReferenceBundle>> {
        let dir = self.reference_dir(session_id);
        for name in REFERENCE_FILES {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    return parse_bundle(name, &bytes)
                        .map(Some)
                        .map_err(ServiceError::internal)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ServiceError::internal(format!(
                        "cannot read the reference: {e}"
                    )))
                }
            }
        }
        Ok(None)
    }
}

fn parse_bundle(file_name: &str, bytes: &[u8]) -> std::result::Result<ReferenceBundle, String> {
    let parsed = if file_name.ends_with(".zip") {
        devflow_reference::read_reference_zip(bytes)
    } else {
        devflow_reference::read_reference_json("tokens.json", bytes)
    };
    parsed.map_err(|e| e.to_string())
}

/// The drift report of the site in `workspace` against `tokens`.
pub(super) fn drift_of(tokens: &[ResolvedToken], workspace: &Path) -> Option<DriftReport> {
    let site = devflow_reference::load_site_sources(workspace).ok()?;
    Some(devflow_reference::drift_report(
        tokens, &site.css, &site.html,
    ))
}

/// Replaces the session's reference file (any earlier zip or json) via a temp file + rename.
fn write_replacing(dir: &Path, file_name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{file_name}.tmp"));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, dir.join(file_name))?;
    for other in REFERENCE_FILES.iter().filter(|n| **n != file_name) {
        let _ = std::fs::remove_file(dir.join(other));
    }
    Ok(())
}
