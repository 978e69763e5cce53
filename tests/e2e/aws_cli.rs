//! S3 through the aws CLI (the Debian `awscli` package, v2) against `strata dev`: the CLI
//! reads the key pair `strata dev` prints and writes to its credentials file, as a user would.
//! Only loopback is used: the endpoint is given with `--endpoint-url`, and the environment is
//! cleared so no profile, instance metadata or pager from the host gets involved.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use rand::RngCore;

use crate::cluster::{free_port, STRATA};
use crate::dev::free_port_run;

/// `strata dev` with its S3 endpoint, stopped (Ctrl-C) when dropped.
struct Dev {
    child: Option<Child>,
    endpoint: String,
    dir: PathBuf,
}

impl Dev {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(STRATA)
            .arg("dev")
            .arg("--data-dir")
            .arg(dir.join("strata-data"))
            .args(["--redis-port", &free_port().to_string()])
            .args(["--grpc-port", &free_port().to_string()])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--core-port", &free_port_run().to_string()])
            .args(["--s3-port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("strata dev");
        let stdout = child.stdout.take().expect("stdout");
        let mut endpoint = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("strata dev output");
            if let Some(url) = line.strip_prefix("s3 endpoint: ") {
                endpoint = Some(url.to_string());
            }
            if line.starts_with("ready") || line.starts_with("warning") {
                break;
            }
        }
        Dev {
            child: Some(child),
            endpoint: endpoint.expect("strata dev prints its S3 endpoint"),
            dir: dir.to_path_buf(),
        }
    }

    /// Runs `aws ARGS --endpoint-url ENDPOINT` with only the dev credentials file and a config
    /// file naming the region.
    fn aws(&self, args: &[&str]) -> Output {
        let config = self.dir.join("aws-config");
        std::fs::write(&config, "[default]\nregion = us-east-1\noutput = text\n").expect("aws config");
        Command::new("aws")
            .args(args)
            .args(["--endpoint-url", &self.endpoint])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("LC_ALL", "C.UTF-8")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("strata-data/s3-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .current_dir(&self.dir)
            .output()
            .expect("the aws CLI is installed (scripts/install-deps.sh)")
    }

    /// stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.aws(args);
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling the child we spawned.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGINT);
            }
            let _ = child.wait();
        }
    }
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_drives_strata_dev() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let version = dev.ok(&["--version"]);
    assert!(version.starts_with("aws-cli/2."), "the Debian aws CLI v2: {version}");
    // The ports are printed before the cluster has elected its leaders; wait until S3 answers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dev.aws(&["s3api", "list-buckets"]).status.success() {
        assert!(std::time::Instant::now() < deadline, "strata dev's S3 never answered list-buckets");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    assert_eq!(dev.ok(&["s3api", "create-bucket", "--bucket", "cli"]), "/cli");
    assert!(dev.ok(&["s3api", "list-buckets", "--query", "Buckets[].Name"]).contains("cli"));

    // put-object / get-object / head-object with metadata and tags.
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"hello from the aws cli").unwrap();
    let etag = dev.ok(&[
        "s3api",
        "put-object",
        "--bucket",
        "cli",
        "--key",
        "docs/small.txt",
        "--body",
        small.to_str().unwrap(),
        "--content-type",
        "text/plain",
        "--metadata",
        "color=blue",
        "--tagging",
        "team=storage&tier=hot",
        "--query",
        "ETag",
    ]);
    assert_eq!(etag, format!("\"{}\"", md5_hex(b"hello from the aws cli")));
    let head = dev.ok(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli",
        "--key",
        "docs/small.txt",
        "--query",
        "[ContentLength, ContentType, Metadata.color]",
    ]);
    assert_eq!(head.split_whitespace().collect::<Vec<_>>(), ["22", "text/plain", "blue"]);
    let fetched = dir.path().join("fetched.txt");
    let tag_count = dev.ok(&[
        "s3api",
        "get-object",
        "--bucket",
        "cli",
        "--key",
        "docs/small.txt",
        fetched.to_str().unwrap(),
        "--query",
        "TagCount",
    ]);
    assert_eq!(tag_count, "2");
    assert_eq!(std::fs::read(&fetched).unwrap(), b"hello from the aws cli");

    // Tagging.
    let tags = dev.ok(&[
        "s3api",
        "get-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "docs/small.txt",
        "--query",
        "TagSet[].[Key,Value]",
    ]);
    assert_eq!(tags.lines().collect::<Vec<_>>(), ["team\tstorage", "tier\thot"]);
    dev.ok(&[
        "s3api",
        "put-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "docs/small.txt",
        "--tagging",
        "TagSet=[{Key=owner,Value=me}]",
    ]);
    let tags = dev.ok(&[
        "s3api",
        "get-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "docs/small.txt",
        "--query",
        "TagSet[].[Key,Value]",
    ]);
    assert_eq!(tags, "owner\tme");
    let out = dev.aws(&["s3api", "get-bucket-tagging", "--bucket", "cli"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("An error occurred (NoSuchTagSet) when calling the GetBucketTagging operation"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A file over the CLI's 8 MiB multipart threshold: `aws s3 cp` splits it in 8 MiB parts.
    let mut big = vec![0u8; 20 * 1024 * 1024 + 123];
    rand::rng().fill_bytes(&mut big);
    let big_path = dir.path().join("big.bin");
    std::fs::write(&big_path, &big).unwrap();
    dev.ok(&["s3", "cp", big_path.to_str().unwrap(), "s3://cli/big.bin"]);
    let big_etag = dev.ok(&["s3api", "head-object", "--bucket", "cli", "--key", "big.bin", "--query", "ETag"]);
    assert!(big_etag.ends_with("-3\""), "a three-part multipart ETag: {big_etag}");
    let back = dir.path().join("big.back");
    dev.ok(&["s3", "cp", "s3://cli/big.bin", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == big, "the multipart object reads back byte for byte");

    // Listing, copy, delete.
    dev.ok(&["s3api", "copy-object", "--bucket", "cli", "--key", "copy.txt", "--copy-source", "cli/docs/small.txt"]);
    let keys = dev.ok(&["s3api", "list-objects-v2", "--bucket", "cli", "--query", "Contents[].[Key,Size]"]);
    assert_eq!(keys.lines().collect::<Vec<_>>(), ["big.bin\t20971643", "copy.txt\t22", "docs/small.txt\t22"]);
    let ls = dev.ok(&["s3", "ls", "s3://cli/"]);
    assert!(ls.lines().any(|l| l.trim() == "PRE docs/"), "{ls}");
    assert!(ls.lines().any(|l| l.ends_with(" 22 copy.txt")), "{ls}");
    dev.ok(&["s3api", "delete-object", "--bucket", "cli", "--key", "docs/small.txt"]);

    // An error as the CLI prints it: the S3 code and message from the XML body.
    let out =
        dev.aws(&["s3api", "get-object", "--bucket", "cli", "--key", "docs/small.txt", fetched.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist."
    );
    let copy = dir.path().join("copy.txt");
    dev.ok(&["s3", "cp", "s3://cli/copy.txt", copy.to_str().unwrap()]);
    assert_eq!(std::fs::read(&copy).unwrap(), b"hello from the aws cli", "the copy outlives its source");

    dev.ok(&["s3", "rm", "--recursive", "s3://cli/"]);
    dev.ok(&["s3api", "delete-bucket", "--bucket", "cli"]);
    assert!(!dev.ok(&["s3api", "list-buckets", "--query", "Buckets[].Name"]).contains("cli"));
}
