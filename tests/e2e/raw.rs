//! A byte-level RESP client: sends commands and returns each reply's exact bytes, so Strata's
//! answers can be compared byte for byte with redis-server's.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct RawConn {
    stream: BufReader<TcpStream>,
}

pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl RawConn {
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream: BufReader::new(stream) }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.expect("write");
    }

    /// Sends one command (arguments split on spaces) and returns the reply bytes.
    pub async fn cmd(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').filter(|s| !s.is_empty()).map(str::as_bytes).collect();
        self.cmd_args(&args).await
    }

    pub async fn cmd_args(&mut self, args: &[&[u8]]) -> String {
        self.send_raw(&encode_command(args)).await;
        self.read_reply().await.expect("reply")
    }

    /// Reads one complete reply; None when the server closed the connection.
    pub async fn read_reply(&mut self) -> Option<String> {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.read_frame(&mut out)).await.expect("reply in time")?;
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    fn read_frame<'a>(
        &'a mut self,
        out: &'a mut Vec<u8>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<()>> + Send + 'a>> {
        Box::pin(async move {
            let mut line = Vec::new();
            if self.stream.read_until(b'\n', &mut line).await.ok()? == 0 {
                return None;
            }
            out.extend_from_slice(&line);
            let kind = *line.first()?;
            let body = std::str::from_utf8(&line[1..line.len().saturating_sub(2)]).ok()?.to_string();
            match kind {
                b'$' | b'=' | b'!' => {
                    let len: i64 = body.parse().ok()?;
                    if len >= 0 {
                        let mut buf = vec![0u8; len as usize + 2];
                        self.stream.read_exact(&mut buf).await.ok()?;
                        out.extend_from_slice(&buf);
                    }
                }
                b'*' | b'~' | b'>' => {
                    let n: i64 = body.parse().ok()?;
                    for _ in 0..n.max(0) {
                        self.read_frame(out).await?;
                    }
                }
                b'%' => {
                    let n: i64 = body.parse().ok()?;
                    for _ in 0..(n.max(0) * 2) {
                        self.read_frame(out).await?;
                    }
                }
                _ => {}
            }
            Some(())
        })
    }
}
