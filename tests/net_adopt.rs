//! Adopting sockets made outside kqio (`from_std`) and lending their descriptors back
//! (`as_fd`, `as_raw_fd`): a std listener and stream doing I/O, an "inherited" UDP socket (a raw
//! descriptor without close-on-exec), the Unix types, the raw descriptor's round trip, and the
//! typed errors for a descriptor that is not a socket or not of the right kind (also on the
//! simulator, which has no descriptors).

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use kqio::net::{
    AdoptError, AdoptKind, TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener,
    UnixStream,
};
use kqio::{InitOptions, IoRef, Kqueue};

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init")
}

fn fd_flags(fd: RawFd) -> (bool, bool) {
    // SAFETY: `fcntl` with F_GETFL/F_GETFD only reads the flags of `fd`, which the caller keeps
    // open.
    let (fl, fd_fl) = unsafe { (libc::fcntl(fd, libc::F_GETFL), libc::fcntl(fd, libc::F_GETFD)) };
    assert!(fl >= 0 && fd_fl >= 0, "fcntl: {}", std::io::Error::last_os_error());
    (fl & libc::O_NONBLOCK != 0, fd_fl & libc::FD_CLOEXEC != 0)
}

/// A temporary directory for socket files, removed at the end.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("kqio-adopt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn adopted_std_listener_accepts_and_adopted_std_stream_talks() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        // A blocking std listener, as a parent process or systemd would hand over.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(&io, std_listener).expect("adopt the listener");
        assert_eq!(listener.local_addr().unwrap(), addr);
        let (nonblocking, cloexec) = fd_flags(listener.as_raw_fd().unwrap());
        assert!(nonblocking && cloexec);

        // The client side: a std stream connected by std, then adopted.
        let client = io.r#async({
            let io = io.clone();
            async move {
                let std_stream = std::net::TcpStream::connect(addr)?;
                let stream = TcpStream::from_std(&io, std_stream)?;
                assert_eq!(stream.peer_addr()?, addr);
                stream.write_all(b"ping").await?;
                let mut buf = [0u8; 4];
                stream.read_exact(&mut buf).await?;
                assert_eq!(&buf, b"pong");
                std::io::Result::Ok(fd_flags(stream.as_raw_fd().unwrap()))
            }
        });
        let (server, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        assert_eq!(client.await.unwrap(), (true, true), "adopted stream: non-blocking, cloexec");
    });
}

#[test]
fn inherited_udp_socket_is_adopted_and_made_close_on_exec() {
    let rt = rt();
    let io = rt.io();
    // What a child sees of a socket its parent passed down: a bare descriptor number, without
    // close-on-exec.
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = std_socket.local_addr().unwrap();
    let raw = std_socket.into_raw_fd();
    // SAFETY: clears FD_CLOEXEC on `raw`, which this test owns.
    assert_eq!(unsafe { libc::fcntl(raw, libc::F_SETFD, 0) }, 0);
    assert_eq!(fd_flags(raw), (false, false));
    // SAFETY: `raw` came from `into_raw_fd` above and nothing else owns it.
    let inherited = std::net::UdpSocket::from(unsafe { OwnedFd::from_raw_fd(raw) });

    let socket = UdpSocket::from_std(&io, inherited).expect("adopt");
    assert_eq!(socket.as_raw_fd(), Some(raw), "the same descriptor, not a copy");
    assert_eq!(fd_flags(raw), (true, true));
    rt.block_on(async {
        let peer = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        peer.send_to(b"hello", addr).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], peer.local_addr().unwrap()));
        socket.send_to(b"back", from).await.unwrap();
        let (n, _) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
    });
}

#[test]
fn raw_descriptor_round_trip() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(&io, addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();

        // kqio's socket seen through its borrowed descriptor: the same socket.
        stream.set_nodelay(true).unwrap();
        let fd = stream.as_fd().expect("the kqueue backend's sockets are descriptors");
        let sock = socket2::SockRef::from(&fd);
        assert!(sock.tcp_nodelay().unwrap());
        assert_eq!(sock.local_addr().unwrap().as_socket(), Some(stream.local_addr().unwrap()));
        assert_eq!(Some(fd.as_raw_fd()), stream.as_raw_fd());

        // A raw number handed out of kqio's hands into std and back (through a duplicate, as the
        // kqio socket keeps its own): both sides still talk.
        let dup = fd.try_clone_to_owned().unwrap();
        let dup_raw = dup.into_raw_fd();
        // SAFETY: `dup_raw` is a fresh duplicate that nothing else owns.
        let std_again = std::net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(dup_raw) });
        let again = TcpStream::from_std(&io, std_again).unwrap();
        assert_eq!(again.as_raw_fd(), Some(dup_raw));
        again.write_all(b"via the duplicate").await.unwrap();
        let mut buf = [0u8; 17];
        accepted.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"via the duplicate");
    });
}

#[test]
fn unix_types_are_adopted() {
    let dir = TempDir::new("unix");
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let path = dir.0.join("listener.sock");
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let listener = UnixListener::from_std(&io, std_listener).unwrap();
        let std_client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let client = UnixStream::from_std(&io, std_client).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"unix").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"unix");

        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let (a, b) =
            (UnixDatagram::from_std(&io, a).unwrap(), UnixDatagram::from_std(&io, b).unwrap());
        a.send(b"one datagram").await.unwrap();
        let mut buf = [0u8; 32];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one datagram");
        assert!(a.as_raw_fd().is_some() && listener.as_fd().is_some());
    });
}

fn adopt_err(r: std::io::Result<impl std::fmt::Debug>) -> (AdoptError, std::io::ErrorKind) {
    let e = r.expect_err("adoption should fail");
    (AdoptError::of(&e).unwrap_or_else(|| panic!("not an AdoptError: {e}")), e.kind())
}

#[test]
fn descriptors_of_the_wrong_kind_are_refused_with_a_typed_error() {
    let dir = TempDir::new("wrong");
    let rt = rt();
    let io: IoRef = rt.io();
    let invalid = std::io::ErrorKind::InvalidInput;

    // Not a socket at all: a regular file, a character device.
    let file = OwnedFd::from(std::fs::File::open("Cargo.toml").unwrap());
    let r = TcpStream::from_std(&io, std::net::TcpStream::from(file));
    assert_eq!(adopt_err(r), (AdoptError::NotASocket, invalid));
    let null = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let r = UdpSocket::from_std(&io, std::net::UdpSocket::from(null));
    assert_eq!(adopt_err(r), (AdoptError::NotASocket, invalid));

    // A datagram socket as a stream.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = TcpStream::from_std(&io, std::net::TcpStream::from(OwnedFd::from(udp)));
    let wrong = |expected| (AdoptError::WrongKind { expected }, invalid);
    assert_eq!(adopt_err(r), wrong(AdoptKind::TcpStream));

    // A listener as a connection, and a connection as a listener.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let connected = std::net::TcpStream::connect(addr).unwrap();
    let r = TcpStream::from_std(&io, std::net::TcpStream::from(OwnedFd::from(std_listener)));
    assert_eq!(adopt_err(r), wrong(AdoptKind::TcpStream));
    let r = TcpListener::from_std(&io, std::net::TcpListener::from(OwnedFd::from(connected)));
    assert_eq!(adopt_err(r), wrong(AdoptKind::TcpListener));

    // A Unix socket as a TCP one, and an IP socket as a Unix one.
    let (unix, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let r = TcpStream::from_std(&io, std::net::TcpStream::from(OwnedFd::from(unix)));
    assert_eq!(adopt_err(r), wrong(AdoptKind::TcpStream));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = UnixDatagram::from_std(&io, std::os::unix::net::UnixDatagram::from(OwnedFd::from(udp)));
    assert_eq!(adopt_err(r), wrong(AdoptKind::UnixDatagram));
    let path = dir.0.join("l.sock");
    let unix_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let r = UnixStream::from_std(
        &io,
        std::os::unix::net::UnixStream::from(OwnedFd::from(unix_listener)),
    );
    assert_eq!(adopt_err(r), wrong(AdoptKind::UnixStream));
}

#[test]
fn the_simulator_cannot_adopt_a_descriptor() {
    use kqio::sim::{Sim, SimOptions};
    let mut sim = Sim::new(SimOptions::default());
    let client = sim.client("adopter", |io: IoRef| async move {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = UdpSocket::from_std(&io, std_socket).unwrap_err();
        (AdoptError::of(&e), e.kind())
    });
    sim.run().expect("the run ends");
    let unsupported = (Some(AdoptError::Unsupported), std::io::ErrorKind::Unsupported);
    assert_eq!(client.output(), Some(unsupported));
}
