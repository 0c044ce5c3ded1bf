//! A TCP proxy that a test can cut and restore, to take a database away from
//! a running server and give it back, or freeze, to put a connection (or all
//! of them) on the far side of a partition.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    links: Arc<Mutex<Vec<Link>>>,
}

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
                tokio::spawn(forward(client, server, watcher.clone(), frozen_watch));
            }
        });
        Self { addr, up, links }
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
    mut client: TcpStream,
    mut server: TcpStream,
    mut up: watch::Receiver<bool>,
    mut frozen: watch::Receiver<bool>,
) {
    let cut = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        _ = up.wait_for(|up| !*up) => true,
        _ = frozen.wait_for(|frozen| *frozen) => false,
    };
    // `freeze_all` freezes before it cuts.
    if cut && !*frozen.borrow() {
        return;
    }
    // Frozen: hold both sockets, forwarding nothing, until the proxy is
    // dropped (its sender with it).
    let _ = up.wait_for(|_| false).await;
    drop((client, server));
}
