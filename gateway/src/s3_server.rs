//! The S3 listener: hyper (HTTP/1.1 and h2c) serving s3s's `S3Service`, which checks SigV4
//! signatures (headers, presigned URLs, aws-chunked bodies) against the configured keys and
//! calls Strata's S3 semantics (`strata_protocols::s3`) over the gateway's KV store.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::service::S3ServiceBuilder;
use strata_protocols::s3::access::{KeyRing, PublicReadAccess};
use strata_protocols::s3::host::VirtualHosts;
use strata_protocols::s3::request_id::RequestId;
use strata_protocols::s3::service::StrataS3;
use tokio::net::TcpListener;

use crate::core_kv::CoreKv;

/// The region clients should sign for.
pub const REGION: &str = strata_protocols::s3::REGION;

/// Base domains for virtual-host-style addressing unless configured.
pub const DEFAULT_DOMAINS: &[&str] = &["localhost"];

#[derive(Clone, Debug)]
pub struct S3Config {
    pub listen: SocketAddr,
    /// Access key id → secret key.
    pub keys: Vec<(String, String)>,
    /// `bucket.<domain>` hosts address buckets virtual-host style.
    pub domains: Vec<String>,
}

/// Serves S3 on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, kv: CoreKv, config: S3Config) {
    let mut builder = S3ServiceBuilder::new(StrataS3::new(kv.clone()));
    if config.keys.is_empty() {
        tracing::warn!("no S3 access keys configured: every signed request will be refused");
    }
    builder.set_auth(KeyRing::new(config.keys));
    builder.set_access(PublicReadAccess::new(kv));
    builder.set_host(VirtualHosts::new(config.domains));
    let s3 = builder.build();
    // Every request gets an id, echoed in `x-amz-request-id` and in error bodies.
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let id = RequestId::fresh();
        let header = hyper::header::HeaderValue::from_str(&id.0).ok();
        req.extensions_mut().insert(id);
        let s3 = s3.clone();
        async move {
            let mut response = s3.call(req.map(s3s::Body::from)).await?;
            if let Some(header) = header {
                response.headers_mut().insert("x-amz-request-id", header);
            }
            Ok::<_, s3s::HttpError>(response)
        }
    });
    let http = Arc::new(hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "s3 accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let http = http.clone();
        tokio::spawn(async move {
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "s3 connection ended with an error");
            }
        });
    }
}

/// Reads access keys from an AWS shared-credentials style file: every `[section]` holding both
/// `aws_access_key_id` and `aws_secret_access_key` gives one key pair.
pub fn parse_credentials(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut current: (Option<String>, Option<String>) = (None, None);
    let mut flush = |current: &mut (Option<String>, Option<String>)| {
        if let (Some(id), Some(secret)) = (current.0.take(), current.1.take()) {
            pairs.push((id, secret));
        }
        *current = (None, None);
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            flush(&mut current);
        } else if let Some((name, value)) = line.split_once('=') {
            let value = value.trim().to_string();
            match name.trim() {
                "aws_access_key_id" => current.0 = Some(value),
                "aws_secret_access_key" => current.1 = Some(value),
                _ => {}
            }
        }
    }
    flush(&mut current);
    pairs
}

/// One key pair as a shared-credentials file (the aws CLI and SDKs read it with
/// `AWS_SHARED_CREDENTIALS_FILE`).
pub fn render_credentials(access_key: &str, secret_key: &str) -> String {
    format!("[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_round_trip_and_hold_several_profiles() {
        let text = render_credentials("AK", "SK");
        assert_eq!(parse_credentials(&text), vec![("AK".to_string(), "SK".to_string())]);
        let two = "[a]\naws_access_key_id=1\naws_secret_access_key = one\n# note\n[b]\naws_access_key_id = 2\n\
                   [c]\naws_secret_access_key = x\naws_access_key_id = 3\n";
        assert_eq!(
            parse_credentials(two),
            vec![("1".to_string(), "one".to_string()), ("3".to_string(), "x".to_string())]
        );
    }
}
