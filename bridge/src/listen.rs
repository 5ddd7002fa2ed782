//! Where a bridge listens: `unix:/path/to.sock` or `tcp:HOST:PORT`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// A listening address of the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A Unix domain socket, created with mode 0600.
    Unix(PathBuf),
    /// A TCP socket; port 0 picks a free port.
    Tcp(SocketAddr),
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path, e.g. unix:/tmp/ferry.sock".to_owned());
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text.strip_prefix("tcp:") {
            return addr
                .parse()
                .map(ListenAddr::Tcp)
                .map_err(|err| format!("tcp:{addr}: {err}; expected tcp:HOST:PORT, e.g. tcp:127.0.0.1:50051"));
        }
        Err(format!("{text:?}: expected unix:/path/to.sock or tcp:HOST:PORT"))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            ListenAddr::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

impl ListenAddr {
    /// Opens a gRPC channel to a bridge listening here, connecting now so
    /// that a wrong address fails at once rather than on the first call.
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        match self {
            ListenAddr::Tcp(addr) => Endpoint::from_shared(format!("http://{addr}"))?.connect().await,
            ListenAddr::Unix(path) => {
                let path = path.clone();
                // The URI is required by the API but unused: the connector
                // below decides where bytes go.
                Endpoint::from_static("http://bridge.local")
                    .connect_with_connector(tower::service_fn(move |_| {
                        let path = path.clone();
                        async move { tokio::net::UnixStream::connect(path).await.map(TokioIo::new) }
                    }))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_round_trips() {
        for text in ["unix:/tmp/x.sock", "tcp:127.0.0.1:50051"] {
            let addr: ListenAddr = text.parse().expect("valid address");
            assert_eq!(addr.to_string(), text);
        }
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for (text, expected) in
            [("unix:", "socket path"), ("tcp:localhost", "tcp:HOST:PORT"), ("/tmp/x.sock", "expected unix:")]
        {
            let err = text.parse::<ListenAddr>().expect_err("not an address");
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
