//! JSON-RPC method dispatch: the one table from method name to facade call, shared by the
//! WebSocket and LSP transports. Params are decoded into the protocol's types here, so a
//! wrong type or a missing field is the same VALIDATION_ERROR on every transport.

use devflow_protocol::{method, SubscribeParams, SubscribeResult};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::error::{params_error, ServiceError};
use crate::events::Subscription;
use crate::service::{Route, Service};

/// What a call produced.
pub enum Outcome {
    Reply(Value),
    /// `session/subscribe`: reply with the result, then forward the subscription's events.
    Subscribed(SubscribeResult, Subscription),
    /// `session/unsubscribe`: stop forwarding this session's events.
    Unsubscribe(String),
}

fn decode<T: DeserializeOwned>(params: Value) -> Result<T, ServiceError> {
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params
    };
    if !params.is_object() {
        return Err(ServiceError::invalid(
            "params",
            params,
            "params must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(params).map_err(|e| params_error(&e))
}

fn reply<T: serde::Serialize>(value: Result<T, ServiceError>) -> Result<Outcome, ServiceError> {
    let value = value?;
    serde_json::to_value(value)
        .map(Outcome::Reply)
        .map_err(|e| ServiceError::internal(format!("cannot encode the result: {e}")))
}

/// Calls `name` with `params` inside a span carrying the method and the session id, so the
/// call's log lines land in that session's log. Unknown names are METHOD_NOT_FOUND.
pub async fn call(service: &Service, name: &str, params: Value) -> Result<Outcome, ServiceError> {
    let span = tracing::info_span!("rpc", method = name, session_id = tracing::field::Empty);
    if let Some(session_id) = params.get("sessionId").and_then(Value::as_str) {
        span.record("session_id", session_id);
    }
    let result = dispatch(service, name, params, false)
        .instrument(span.clone())
        .await;
    if let Err(error) = &result {
        span.in_scope(|| tracing::info!(code = error.code.as_str(), message = %error.message, "request refused"));
    }
    result
}

/// A call another daemon of the fleet forwarded here because this daemon runs the session:
/// run here, never forwarded again (ownership that moved meanwhile is a CONFLICT).
pub async fn call_forwarded(
    service: &Service,
    name: &str,
    params: Value,
) -> Result<Value, ServiceError> {
    let span = tracing::info_span!(
        "rpc",
        method = name,
        forwarded = true,
        session_id = tracing::field::Empty
    );
    if let Some(session_id) = params.get("sessionId").and_then(Value::as_str) {
        span.record("session_id", session_id);
    }
    match dispatch(service, name, params, true)
        .instrument(span)
        .await?
    {
        Outcome::Reply(value) => Ok(value),
        Outcome::Subscribed(..) | Outcome::Unsubscribe(_) => Err(ServiceError::internal(format!(
            "{name} cannot be forwarded to another daemon"
        ))),
    }
}

/// Methods that act on a session's files, preview, queue or runtime: in a fleet they run on
/// the daemon holding the session's lease, and one sent to another daemon is forwarded
/// there. (Submitting a command is accepted anywhere; the owner picks it up.)
const OWNER_METHODS: &[&str] = &[
    method::SESSION_UPLOAD,
    method::SESSION_START,
    method::SESSION_LOGS,
    method::SESSION_ROLLBACK,
    method::SESSION_PAUSE,
    method::SESSION_RESUME,
    method::SESSION_UPDATE_SETTINGS,
    method::SESSION_STOP,
    method::SESSION_DELETE,
    method::SESSION_PUBLISH,
    method::SESSION_EDITOR_URL,
    method::COMMAND_CANCEL,
    method::REFERENCE_SET,
    method::REFERENCE_GET,
];

async fn dispatch(
    service: &Service,
    name: &str,
    params: Value,
    forwarded: bool,
) -> Result<Outcome, ServiceError> {
    if OWNER_METHODS.contains(&name) {
        if let Some(session_id) = params.get("sessionId").and_then(Value::as_str) {
            if let Route::Elsewhere { owner } = service.route(session_id).await? {
                if forwarded || name == method::SESSION_UPLOAD {
                    // An upload names a file on this machine; in a fleet it goes to S3.
                    return Err(ServiceError::conflict(format!(
                        "session {session_id} is run by daemon {owner} of this fleet{}",
                        if forwarded {
                            ""
                        } else {
                            "; upload the site zip to the session's uploadUrl instead"
                        }
                    )));
                }
                return service
                    .forward(&owner, name, params)
                    .await
                    .map(Outcome::Reply);
            }
        }
    }
    match name {
        method::SESSION_CREATE => reply(service.create_session(decode(params)?).await),
        method::SESSION_UPLOAD => reply(service.upload(decode(params)?).await),
        method::SESSION_START => reply(service.start_session(decode(params)?).await),
        method::SESSION_GET => reply(service.get_session(decode(params)?).await),
        method::SESSION_LIST => {
            decode::<serde_json::Map<String, Value>>(params)?;
            reply(service.list_sessions().await)
        }
        method::SESSION_HISTORY => reply(service.history(decode(params)?).await),
        method::SESSION_SUBSCRIBE => {
            let params: SubscribeParams = decode(params)?;
            let (result, subscription) = service.subscribe(params).await?;
            Ok(Outcome::Subscribed(result, subscription))
        }
        method::SESSION_UNSUBSCRIBE => {
            let params: devflow_protocol::SessionParams = decode(params)?;
            Ok(Outcome::Unsubscribe(params.session_id))
        }
        method::SESSION_LOGS => reply(service.logs(decode(params)?).await),
        method::SESSION_ROLLBACK => reply(service.rollback(decode(params)?).await),
        method::SESSION_PAUSE => reply(service.pause(decode(params)?).await),
        method::SESSION_RESUME => reply(service.resume(decode(params)?).await),
        method::SESSION_GET_SETTINGS => reply(service.get_settings(decode(params)?).await),
        method::SESSION_UPDATE_SETTINGS => reply(service.update_settings(decode(params)?).await),
        method::SESSION_STOP => reply(service.stop_session(decode(params)?).await),
        method::SESSION_DELETE => reply(service.delete_session(decode(params)?).await),
        method::SESSION_PUBLISH => reply(service.publish_session(decode(params)?).await),
        method::SESSION_EDITOR_URL => reply(service.editor_url(decode(params)?).await),
        method::COMMAND_SUBMIT => reply(service.submit_command(decode(params)?).await),
        method::COMMAND_GET => reply(service.get_command(decode(params)?).await),
        method::COMMAND_CANCEL => reply(service.cancel_command(decode(params)?).await),
        method::PATCH_GET => reply(service.get_patch(decode(params)?).await),
        method::PATCH_APPLY => reply(service.apply_patch(decode(params)?).await),
        method::REFERENCE_SET => reply(service.set_reference(decode(params)?).await),
        method::REFERENCE_GET => reply(service.get_reference(decode(params)?).await),
        // Not an owner method: pictures are shared artifacts, and a screen's bytes would not
        // fit the answer a forwarded call can carry; served here like the HTTP routes.
        method::RESOURCE_READ => reply(service.read_resource(decode(params)?).await),
        other => Err(ServiceError {
            field: Some("method".into()),
            value: Some(other.into()),
            ..ServiceError::new(
                devflow_protocol::ErrorCode::MethodNotFound,
                format!("unknown method {other:?}"),
            )
        }),
    }
}

/// A JSON-RPC 2.0 error member for a service error: the code, and the seed-004 object as `data`.
pub fn error_member(error: &ServiceError) -> Value {
    serde_json::json!({
        "code": error.code.jsonrpc_code(),
        "message": error.message,
        "data": error.to_api_error(),
    })
}
