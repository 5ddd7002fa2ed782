//! Reaching AWS: one SDK configuration per run, loaded from the standard
//! chain (environment, profiles, SSO, instance and container roles), and
//! service errors classified by whose fault they are.
//!
//! `AWS_ENDPOINT_URL` (or a per-service `AWS_ENDPOINT_URL_S3`, ...) points
//! every client at an emulator or a VPC endpoint; S3 then uses path-style
//! addressing, since custom endpoints rarely serve bucket subdomains.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::error_sinks::ErrorSinkError;
use crate::sinks::{SinkError, SinkMetrics};
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
    aws_sdk_s3::Client::from_conf(s3_config(config).build())
}

fn s3_config(config: &SdkConfig) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some())
}

/// An S3 client for a sink: [`s3_client`], counting its retries.
pub fn s3_sink_client(config: &SdkConfig, metrics: &Arc<SinkMetrics>) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(config).interceptor(CountRetries(Arc::clone(metrics))).build())
}

/// Clients for the other services' sinks, counting their retries.
pub fn kinesis_sink_client(config: &SdkConfig, metrics: &Arc<SinkMetrics>) -> aws_sdk_kinesis::Client {
    let builder = aws_sdk_kinesis::config::Builder::from(config).interceptor(CountRetries(Arc::clone(metrics)));
    aws_sdk_kinesis::Client::from_conf(builder.build())
}

pub fn sqs_sink_client(config: &SdkConfig, metrics: &Arc<SinkMetrics>) -> aws_sdk_sqs::Client {
    let builder = aws_sdk_sqs::config::Builder::from(config).interceptor(CountRetries(Arc::clone(metrics)));
    aws_sdk_sqs::Client::from_conf(builder.build())
}

pub fn dynamodb_sink_client(config: &SdkConfig, metrics: &Arc<SinkMetrics>) -> aws_sdk_dynamodb::Client {
    let builder = aws_sdk_dynamodb::config::Builder::from(config).interceptor(CountRetries(Arc::clone(metrics)));
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// Counts the SDK's own retries of a sink's calls (throttling, 5xx,
/// timeouts) into the sink's metrics: the sink never sees them, and the
/// run summary's retries should.
#[derive(Debug)]
struct CountRetries(Arc<SinkMetrics>);

impl Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "CountRetries"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<RequestAttempts>().is_some_and(|attempts| attempts.attempts() > 1) {
            self.0.retried(1);
        }
        Ok(())
    }
}

/// Checks that `bucket` exists and can be reached (HeadBucket).
pub async fn check_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), ServiceFailure> {
    let failure = |(message, retryable)| ServiceFailure {
        operation: "HeadBucket",
        resource: format!("s3://{bucket}"),
        message,
        retryable,
    };
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        // A HEAD answer has no body: S3's code alone ("NotFound") says
        // little.
        Err(err) if err.as_service_error().is_some_and(HeadBucketError::is_not_found) => {
            Err(failure((format!("the bucket {bucket} does not exist"), false)))
        }
        Err(err) => Err(failure(classify(err))),
    }
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
    "RequestThrottled",
    "KmsThrottled",
    "TooManyRequestsException",
];

/// What an SDK error says: its message, and whether a retry can help.
/// Failures to connect or to get a whole answer are retryable; a service's
/// answer is when its code is transient.
pub fn classify<E>(err: SdkError<E, HttpResponse>) -> (String, bool)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        // A code this list does not know still says "try again" by its
        // status: throttled (429) or a server fault (5xx).
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            service.err().code().is_some_and(is_transient) || status == 429 || status >= 500
        }
        _ => false,
    };
    let message = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(err).to_string(),
    };
    (message, retryable)
}

/// Whether an AWS error code names a transient condition. SQS's JSON
/// protocol prefixes some codes with `AWS.SimpleQueueService.`.
pub fn is_transient(code: &str) -> bool {
    let code = code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code);
    TRANSIENT_CODES.contains(&code)
}

/// `err`, from `operation` on `resource`, as a [`SourceError::Service`].
pub fn service_error<E>(operation: &'static str, resource: &str, err: SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (message, retryable) = classify(err);
    SourceError::Service { operation, resource: resource.to_owned(), message, retryable }
}

/// `err`, from `operation` on `resource`, as a [`SinkError::Service`].
pub fn sink_error<E>(operation: &'static str, resource: &str, err: SdkError<E, HttpResponse>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (message, retryable) = classify(err);
    SinkError::Service { operation, resource: resource.to_owned(), message, retryable }
}

/// `err`, from `operation` on `resource`, as an [`ErrorSinkError::Service`].
pub fn error_sink_error<E>(operation: &'static str, resource: &str, err: SdkError<E, HttpResponse>) -> ErrorSinkError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (message, retryable) = classify(err);
    ErrorSinkError::Service { operation, resource: resource.to_owned(), message, retryable }
}

/// Keys per DeleteObjects call: S3's limit.
const KEYS_PER_DELETE: usize = 1000;

/// Deletes `keys` of `bucket`, in as few DeleteObjects calls as S3
/// allows; fails when a call fails or leaves keys undeleted.
pub async fn delete_objects(client: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<(), ServiceFailure> {
    let failure = |(message, retryable)| ServiceFailure {
        operation: "DeleteObjects",
        resource: format!("s3://{bucket}"),
        message,
        retryable,
    };
    for chunk in keys.chunks(KEYS_PER_DELETE) {
        let identifiers = chunk
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| failure((err.to_string(), false)))?;
        let delete = Delete::builder()
            .set_objects(Some(identifiers))
            .quiet(true)
            .build()
            .map_err(|err| failure((err.to_string(), false)))?;
        let answer =
            client.delete_objects().bucket(bucket).delete(delete).send().await.map_err(|err| failure(classify(err)))?;
        // A quiet DeleteObjects answers 200 and lists the keys it could not
        // delete.
        if let Some(first) = answer.errors().first() {
            let code = first.code().unwrap_or("an unknown error");
            let message = format!(
                "{} of {} objects were not deleted; {}: {code}: {}",
                answer.errors().len(),
                chunk.len(),
                first.key().unwrap_or("an object"),
                first.message().unwrap_or("no message")
            );
            let retryable = answer.errors().iter().all(|error| error.code().is_some_and(is_transient));
            return Err(failure((message, retryable)));
        }
    }
    Ok(())
}

/// A failed call to an AWS service, before it becomes the error of the
/// source or sink that made it.
#[derive(Debug)]
pub struct ServiceFailure {
    pub operation: &'static str,
    pub resource: String,
    pub message: String,
    pub retryable: bool,
}

impl From<ServiceFailure> for SourceError {
    fn from(failure: ServiceFailure) -> Self {
        let ServiceFailure { operation, resource, message, retryable } = failure;
        SourceError::Service { operation, resource, message, retryable }
    }
}

impl From<ServiceFailure> for ErrorSinkError {
    fn from(failure: ServiceFailure) -> Self {
        let ServiceFailure { operation, resource, message, retryable } = failure;
        ErrorSinkError::Service { operation, resource, message, retryable }
    }
}

impl From<ServiceFailure> for SinkError {
    fn from(failure: ServiceFailure) -> Self {
        let ServiceFailure { operation, resource, message, retryable } = failure;
        SinkError::Service { operation, resource, message, retryable }
    }
}

/// The URL of the SQS queue `queue_name`, and the queue as messages name
/// it (`SQS queue NAME in REGION`).
pub async fn queue_url(
    client: &aws_sdk_sqs::Client,
    config: &SdkConfig,
    queue_name: &str,
) -> Result<(String, String), ServiceFailure> {
    let region = config.region().map_or_else(|| "the default region".to_owned(), ToString::to_string);
    let resource = format!("SQS queue {queue_name} in {region}");
    let found = match client.get_queue_url().queue_name(queue_name).send().await {
        Ok(found) => found,
        Err(err) => {
            let (message, retryable) = classify(err);
            return Err(ServiceFailure { operation: "GetQueueUrl", resource, message, retryable });
        }
    };
    match found.queue_url {
        Some(url) => Ok((url, resource)),
        None => Err(ServiceFailure {
            operation: "GetQueueUrl",
            resource,
            message: "the answer holds no queue URL".to_owned(),
            retryable: true,
        }),
    }
}
