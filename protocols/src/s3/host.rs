//! Path-style and virtual-host-style addressing: `Host: bucket.<domain>` names the bucket when
//! `<domain>` is one of the configured base domains; any other host (an IP address, the
//! domain itself, an unknown name) means path-style (`/bucket/key`).

use std::borrow::Cow;

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

#[derive(Clone, Debug)]
pub struct VirtualHosts {
    domains: Vec<String>,
}

impl VirtualHosts {
    pub fn new(domains: impl IntoIterator<Item = String>) -> Self {
        VirtualHosts { domains: domains.into_iter().map(|d| d.to_ascii_lowercase()).collect() }
    }

    /// The bucket a Host header names, if any.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = strip_port(host);
        self.domains.iter().find_map(|domain| {
            let bucket = name.strip_suffix(domain.as_str())?.strip_suffix('.')?;
            (!bucket.is_empty()).then_some(bucket)
        })
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host; // an IPv6 literal: never a virtual host
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        match self.bucket_of(host) {
            Some(bucket) => {
                Ok(VirtualHost::new(Cow::Borrowed(host)).with_bucket(Cow::Owned(bucket.to_ascii_lowercase())))
            }
            None => Ok(VirtualHost::new(Cow::Borrowed(host))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_subdomains_of_a_configured_domain_name_buckets() {
        let hosts = VirtualHosts::new(["localhost".to_string(), "s3.example.com".to_string()]);
        assert_eq!(hosts.bucket_of("photos.localhost:9000"), Some("photos"));
        assert_eq!(hosts.bucket_of("a.b.s3.example.com"), Some("a.b"));
        assert_eq!(hosts.bucket_of("localhost:9000"), None);
        assert_eq!(hosts.bucket_of("127.0.0.1:9000"), None);
        assert_eq!(hosts.bucket_of("[::1]:9000"), None);
        assert_eq!(hosts.bucket_of("example.com"), None);
        assert_eq!(hosts.bucket_of("xlocalhost"), None);
    }
}
