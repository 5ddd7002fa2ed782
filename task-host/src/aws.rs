//! Reaching AWS: one SDK configuration per run, loaded from the standard
//! chain (environment, profiles, SSO, instance and container roles), and
//! service errors classified by whose fault they are.
//!
//! `AWS_ENDPOINT_URL` (or a per-service `AWS_ENDPOINT_URL_S3`, ...) points
//! every client at an emulator or a VPC endpoint; S3 then uses path-style
//! addressing, since custom endpoints rarely serve bucket subdomains.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::sources::SourceError;

/// Loads the AWS configuration. `region` (the dataset's `region` field,
/// where given) overrides the chain's region, since it says where the
/// dataset's resources are.
pub async fn load_config(region: Option<&str>) -> Result<SdkConfig, SourceError> {
    // rustls on ring: the SDK's default TLS stack builds aws-lc from C.
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(SourceError::Service {
            operation: "loading the AWS configuration",
            resource: "the AWS region".to_owned(),
            message: "no region is set: set AWS_REGION, a profile's region, or the dataset's \"region\"".to_owned(),
            retryable: false,
        });
    }
    Ok(config)
}

/// An S3 client for `config`, path-style when an endpoint is configured.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Error codes AWS services use for a transient condition: throttling,
/// an overloaded or failing service. Anything else (a missing resource,
/// denied access, a bad request) needs someone to act before a retry can
/// succeed.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSThrottlingException",
];

/// `err`, from `operation` on `resource`, as a [`SourceError::Service`]
/// saying whether a retry can help. Failures to connect or to get a whole
/// answer are retryable; a service's answer is when its code is transient.
pub fn service_error<E, R>(operation: &'static str, resource: &str, err: SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        _ => false,
    };
    let message = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(err).to_string(),
    };
    SourceError::Service { operation, resource: resource.to_owned(), message, retryable }
}
