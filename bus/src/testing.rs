//! Test support for crates whose tests need the test Kafka broker.

use std::time::Duration;

/// Brokers of the test Kafka (`TICKETING_TEST_KAFKA_BROKERS`, default
/// 127.0.0.1:9092), checked to accept connections: the tests fail, never
/// skip, without one.
pub fn kafka_brokers() -> String {
    let brokers =
        std::env::var("TICKETING_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&first)
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("TICKETING_TEST_KAFKA_BROKERS={brokers:?} is not host:port"));
    if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        panic!(
            "no Kafka-protocol broker at {brokers} ({e}): start one with scripts/kafka.sh \
             (scripts/test does), or set TICKETING_TEST_KAFKA_BROKERS"
        );
    }
    brokers
}

/// The test broker's binary (`scripts/kafka.sh` builds it;
/// `TICKETING_TEST_BROKER_BIN` points elsewhere). Panics, never skips,
/// without one.
pub fn test_broker_bin() -> std::path::PathBuf {
    let bin = std::env::var_os("TICKETING_TEST_BROKER_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/var/tmp/test-broker/bin/ticketing-test-broker".into());
    assert!(
        bin.is_file(),
        "no test broker at {} : build it with scripts/kafka.sh (scripts/test does), \
         or set TICKETING_TEST_BROKER_BIN",
        bin.display()
    );
    bin
}

/// A port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A broker process of a test's own (in-memory: a restart comes back
/// empty), killed when dropped.
pub struct OwnBroker {
    child: std::process::Child,
    port: u16,
    advertised: u16,
    authentication: bool,
}

impl OwnBroker {
    /// Starts a broker on `port` that tells clients to connect to
    /// `advertised` (its own port, or a proxy's), requiring SASL if
    /// `authentication`.
    pub fn start(port: u16, advertised: u16, authentication: bool) -> Self {
        let broker = OwnBroker {
            child: Self::spawn(port, advertised, authentication),
            port,
            advertised,
            authentication,
        };
        broker.wait_listening();
        broker
    }

    fn spawn(port: u16, advertised: u16, authentication: bool) -> std::process::Child {
        let mut command = std::process::Command::new(test_broker_bin());
        command
            .args(["--listener-url", &format!("tcp://127.0.0.1:{port}")])
            .args([
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
            ])
            .stdout(std::process::Stdio::null());
        if authentication {
            command.arg("--authentication");
        }
        command.spawn().expect("start the test broker")
    }

    fn wait_listening(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the test broker did not listen on {} within 30 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<advertised port>`, for clients.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.advertised)
    }

    /// Kills it (SIGKILL): everything it held is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, empty, on the same ports.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(self.port, self.advertised, self.authentication);
        self.wait_listening();
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
    }
}
