// protocol/generated/protocol.ts names `JsonValue` (ts-rs's type for serde_json::Value)
// without declaring it; this supplies it until the generator emits it.
type JsonValue = number | string | boolean | null | JsonValue[] | { [key: string]: JsonValue };
