//! Produces the JSON Schema and the TypeScript declarations of the wire types, as strings.
//! `tests/generated.rs` compares them with the checked-in copies under `generated/` and
//! rewrites them when run with `DEVFLOW_BLESS=1`.

use schemars::{JsonSchema, SchemaGenerator};
use ts_rs::{Config, TS};

use crate::*;

macro_rules! for_each_wire_type {
    ($m:ident) => {
        $m!(
            SessionStatus,
            SessionSource,
            Layout,
            LayoutLeft,
            LayoutRight,
            ProposerKind,
            Settings,
            SettingsPatch,
            HistoryItem,
            Session,
            CommandStatus,
            CommandKind,
            Target,
            TargetRule,
            TokenUsage,
            CommandTimings,
            Command,
            VerificationMode,
            Verification,
            ViewportName,
            Screenshot,
            FidelityScore,
            ScreenFidelity,
            Proposal,
            HunkResult,
            HunkReport,
            PatchFile,
            PatchState,
            Patch,
            ResolvedToken,
            ReferenceScreen,
            Reference,
            DriftEntry,
            DriftReport,
            DriftKindSummary,
            Event,
            EventBody,
            ErrorCode,
            ErrorDetails,
            ApiError,
            CreateSessionParams,
            CreateSessionResult,
            SessionParams,
            UploadParams,
            UploadResult,
            SessionList,
            SubmitCommandParams,
            SubmitCommandResult,
            CommandParams,
            HistoryParams,
            HistoryPage,
            SubscribeParams,
            SubscribeResult,
            LogsParams,
            LogsResult,
            PatchParams,
            ApplyPatchParams,
            RollbackParams,
            RollbackResult,
            UpdateSettingsParams,
            SetReferenceParams,
            PublishParams,
            PublishResult,
            EditorUrl,
            DeleteResult,
            ReadResourceParams,
            ResourceContent
        )
    };
}

/// One JSON Schema document whose `$defs` hold every wire type, plus the method table.
pub fn json_schema() -> serde_json::Value {
    let mut generator = SchemaGenerator::default();
    let mut defs = serde_json::Map::new();
    macro_rules! add {
        ($($t:ty),* $(,)?) => {
            $( defs.insert(<$t>::schema_name().into_owned(), generator.subschema_for::<$t>().to_value()); )*
        };
    }
    for_each_wire_type!(add);
    for (name, schema) in generator.take_definitions(true) {
        defs.insert(name, schema);
    }
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "devflow protocol",
        "description": "Wire types of devflow. Generated from the devflow-protocol crate; do not edit.",
        "methods": method::ALL,
        "$defs": defs,
    })
}

/// TypeScript declarations of every wire type, one module.
pub fn typescript() -> String {
    let config = Config::default();
    let mut out = String::from(
        "// Generated from the devflow-protocol crate (cargo test -p devflow-protocol with\n// DEVFLOW_BLESS=1). Do not edit.\n\n",
    );
    macro_rules! add {
        ($($t:ty),* $(,)?) => {
            $( out.push_str("export "); out.push_str(&<$t>::decl(&config)); out.push_str("\n\n"); )*
        };
    }
    for_each_wire_type!(add);
    out.push_str("export const METHODS = [\n");
    for name in method::ALL {
        out.push_str(&format!("  \"{name}\",\n"));
    }
    out.push_str("] as const;\nexport type Method = (typeof METHODS)[number];\n");
    out
}
