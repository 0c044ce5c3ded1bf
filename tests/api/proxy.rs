//! A TCP proxy that a test can cut and restore, to take a database away from
//! a running server and give it back, or freeze, to put a connection (or all
//! of them) on the far side of a partition, or have it hold a commit (see
//! [`Proxy::stall_commit_after`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    links: Arc<Mutex<Vec<Link>>>,
    trap: Trap,
}

/// Bytes which, once a connection has sent them, make the proxy hold that
/// connection's next `COMMIT` for ever: see [`Proxy::stall_commit_after`].
type Trap = Arc<Mutex<Option<Vec<u8>>>>;

/// One forwarded connection.
struct Link {
    /// The local port of the proxy's connection to the target: what the
    /// target (e.g. PostgreSQL's `pg_stat_activity.client_port`) sees.
    upstream_port: u16,
    frozen: watch::Sender<bool>,
}

impl Proxy {
    /// Forwards connections made to `addr` to `target` while up.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, watcher) = watch::channel(true);
        let links = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::clone(&links);
        let trap = Trap::default();
        let armed = Arc::clone(&trap);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*watcher.borrow() {
                    // Down: the connection is closed at once, like a database
                    // that is not there.
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let upstream_port = server.local_addr().map_or(0, |addr| addr.port());
                let (frozen, frozen_watch) = watch::channel(false);
                accepted.lock().expect("links").push(Link {
                    upstream_port,
                    frozen,
                });
                tokio::spawn(forward(
                    client,
                    server,
                    watcher.clone(),
                    frozen_watch,
                    Arc::clone(&armed),
                ));
            }
        });
        Self {
            addr,
            up,
            links,
            trap,
        }
    }

    /// From now on, a connection that sends `marker` (a value a statement
    /// carries, say) has its next `COMMIT` held: the database never gets
    /// it, and the server never hears back, as when a network fails at the
    /// worst moment. Nothing else of that connection, or of the others,
    /// changes. The proxy reads what passes: the server must connect
    /// without TLS (`sslmode=disable`).
    pub fn stall_commit_after(&self, marker: &str) {
        *self.trap.lock().expect("trap") = Some(marker.as_bytes().to_vec());
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// The upstream ports of the connections forwarded so far.
    pub fn upstream_ports(&self) -> Vec<u16> {
        let links = self.links.lock().expect("links");
        links.iter().map(|link| link.upstream_port).collect()
    }

    /// Stops forwarding on the connection whose upstream port is `port`,
    /// keeping both of its sockets open: neither end learns that it is cut,
    /// as across a partition. Returns whether there was such a connection.
    pub fn freeze(&self, port: u16) -> bool {
        let links = self.links.lock().expect("links");
        let link = links.iter().find(|link| link.upstream_port == port);
        link.map(|link| link.frozen.send_replace(true)).is_some()
    }

    /// Freezes every open connection and refuses new ones, until `restore`.
    pub fn freeze_all(&self) {
        // New connections are refused (closed) rather than frozen: a
        // partitioned server cannot connect either, and sees it as an error
        // after its connect timeout; a close is the quicker form of that.
        for link in self.links.lock().expect("links").iter() {
            link.frozen.send_replace(true);
        }
        self.up.send_replace(false);
    }
}

async fn forward(
    client: TcpStream,
    server: TcpStream,
    mut up: watch::Receiver<bool>,
    mut frozen: watch::Receiver<bool>,
    trap: Trap,
) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let both = async {
        tokio::join!(
            copy(client_read, server_write, Some(trap)),
            copy(server_read, client_write, None),
        )
    };
    tokio::pin!(both);
    let cut = tokio::select! {
        _ = &mut both => return,
        _ = up.wait_for(|up| !*up) => true,
        _ = frozen.wait_for(|frozen| *frozen) => false,
    };
    // `freeze_all` freezes before it cuts.
    if cut && !*frozen.borrow() {
        return;
    }
    // Frozen: hold both sockets (in `both`, no longer polled), forwarding
    // nothing, until the proxy is dropped (its sender with it).
    let _ = up.wait_for(|_| false).await;
}

/// Copies `from` to `to` until either ends; with a `trap`, holds the first
/// `COMMIT` after the trap's marker, and everything after it.
async fn copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, trap: Option<Trap>) {
    let mut buffer = vec![0; 16 * 1024];
    let mut watch = CommitWatch::default();
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let marker = trap
            .as_ref()
            .and_then(|trap| trap.lock().expect("trap").clone());
        if let Some(marker) = marker
            && watch.springs(&marker, &buffer[..read])
        {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// What one direction of a connection has sent, as far as a trap needs it.
#[derive(Default)]
struct CommitWatch {
    marker_seen: bool,
    /// The end of the bytes before, for a marker or `COMMIT` split between
    /// two reads.
    tail: Vec<u8>,
}

impl CommitWatch {
    /// Whether `chunk` holds a `COMMIT` sent after `marker`.
    fn springs(&mut self, marker: &[u8], chunk: &[u8]) -> bool {
        const COMMIT: &[u8] = b"COMMIT";
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let after_marker = if self.marker_seen {
            Some(0)
        } else {
            find(&window, marker).map(|at| at + marker.len())
        };
        if let Some(at) = after_marker {
            self.marker_seen = true;
            if find(&window[at..], COMMIT).is_some() {
                return true;
            }
        }
        let keep = marker.len().max(COMMIT.len());
        self.tail = window[window.len().saturating_sub(keep)..].to_vec();
        false
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
