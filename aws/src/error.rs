//! Reading the SDK's errors, the same way for every service: what the credential chain said,
//! an error and its sources on one line, whether the service answered at all, and its code,
//! status and message. The words of the messages built from these stay with each service.

use std::error::Error;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The credentials error somewhere in the chain, if that is what failed.
pub fn credentials_problem(error: &(dyn Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(credentials) =
            current.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
        {
            return Some(chain(credentials));
        }
        source = current.source();
    }
    None
}

/// An error and its sources on one line, each source's text once (the SDK's errors often
/// repeat their source in their own text).
pub fn chain(error: &dyn Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(current) = source {
        let text = current.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = current.source();
    }
    out
}

/// The call got no answer from the service: the connection failed or the call timed out.
pub fn no_answer<E, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        error,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    )
}

/// The service's error code (`ConditionalCheckFailedException`, `AccessDenied`, …), if it
/// answered with one.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.code()
}

/// The HTTP status of the service's answer, if there was one.
pub fn http_status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// What the service said, in a few words: `<code>: <message>`, or the code alone; without a
/// code `HTTP <status>`, and without an answer the whole [`chain`].
pub fn detail<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let code = error.code().unwrap_or_default();
    let message = error.message().unwrap_or_default();
    match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (false, true) => code.to_string(),
        (true, _) => {
            http_status(error).map_or_else(|| chain(error), |status| format!("HTTP {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// An error wrapping another, as the SDK's layers do.
    #[derive(Debug)]
    struct Wrapper(&'static str, Box<dyn Error + Send + Sync>);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    type Failure = SdkError<ErrorMetadata, HttpResponse>;

    fn answer(status: u16) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("a status"),
            SdkBody::empty(),
        )
    }

    fn service(code: Option<&str>, message: Option<&str>, status: u16) -> Failure {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        if let Some(message) = message {
            meta = meta.message(message);
        }
        SdkError::service_error(meta.build(), answer(status))
    }

    #[test]
    fn chain_joins_sources_and_skips_text_already_said() {
        let inner = std::io::Error::other("connection refused");
        let repeating = Wrapper("io error: connection refused", Box::new(inner));
        let outer = Wrapper("dispatch failure", Box::new(repeating));
        assert_eq!(
            chain(&outer),
            "dispatch failure: io error: connection refused"
        );
    }

    #[test]
    fn credentials_problem_finds_the_chains_complaint_at_any_depth() {
        let refused = CredentialsError::not_loaded("no keys in the environment");
        let wrapped = Wrapper("failed to sign", Box::new(refused));
        let problem = credentials_problem(&wrapped).expect("a credentials error");
        assert!(problem.contains("not enabled"), "{problem}");
        assert!(problem.contains("no keys in the environment"), "{problem}");
        let other = Wrapper("failed", Box::new(std::io::Error::other("reset")));
        assert_eq!(credentials_problem(&other), None);
    }

    #[test]
    fn no_answer_is_a_failed_connection_or_a_timeout_not_a_service_error() {
        let io = ConnectorError::io(Box::new(std::io::Error::other("refused")));
        assert!(no_answer(&Failure::dispatch_failure(io)));
        assert!(no_answer(&Failure::timeout_error("slow")));
        assert!(!no_answer(&service(Some("AccessDenied"), None, 403)));
    }

    #[test]
    fn detail_is_code_and_message_else_the_status_else_the_chain() {
        let both = service(Some("AccessDenied"), Some("not yours"), 403);
        assert_eq!(code(&both), Some("AccessDenied"));
        assert_eq!(http_status(&both), Some(403));
        assert_eq!(detail(&both), "AccessDenied: not yours");
        assert_eq!(detail(&service(Some("NoSuchKey"), None, 404)), "NoSuchKey");
        assert_eq!(detail(&service(None, Some("ignored"), 404)), "HTTP 404");
        let timeout = Failure::timeout_error(std::io::Error::other("no answer in 5s"));
        assert_eq!(code(&timeout), None);
        assert_eq!(http_status(&timeout), None);
        assert!(
            detail(&timeout).contains("no answer in 5s"),
            "{}",
            detail(&timeout)
        );
    }
}
