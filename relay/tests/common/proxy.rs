//! A TCP proxy in front of a test broker, to take the network away and
//! give it back while the broker keeps its data: clients are told (by the
//! broker's advertised address) to connect here. `cut` drops every open
//! connection and refuses new ones until `restore`.

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    /// Listens on a free port, forwarding to `127.0.0.1:<target>` (which
    /// may not listen yet).
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let (up, is_up) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let mut is_up = is_up.clone();
                if !*is_up.borrow() {
                    drop(client); // refused: closed at once
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut broker) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut broker) => {}
                        _ = is_up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { port, up }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}
