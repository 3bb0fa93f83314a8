//! `--socket`: listening sockets that stator binds once and every run of the command inherits, so a restart
//! leaves no gap in which clients are refused: connections wait in the kernel's queue while the next run starts.
//!
//! The handover is systemd's socket activation, as `systemfd --no-pid` does it: the sockets are the command's file
//! descriptors 3, 4, ... in the order given, and `LISTEN_FDS` says how many. `LISTEN_PID` is not set (the command
//! is often `cargo run` or a shell that starts the real server in another process, whose pid would not match), so
//! libraries that insist on it (`sd_listen_fds`) see nothing; `listenfd`, uvicorn `--fd 3`, gunicorn
//! `--bind fd://3`, Python's `socket.socket(fileno=3)` and Node's `listen({fd: 3})` take them.
//!
//! Parsing ([`SocketSpec`]) is pure; binding and the handover to a child are Unix only.

use std::fmt;
use std::str::FromStr;

/// The kinds of socket `--socket` binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A TCP listener (`tcp::`, `http::`, `https::`, or no prefix).
    Tcp,
    /// A bound UDP socket (`udp::`).
    Udp,
    /// A Unix stream listener at a path (`unix::`).
    Unix,
}

/// One `--socket ADDR`, in systemfd's spellings: `PORT` (on 127.0.0.1), `HOST:PORT`, `tcp::PORT`,
/// `tcp::HOST:PORT`, `http::...` and `https::...` (TCP too), `udp::HOST:PORT`, `unix::PATH`.
///
/// ```
/// use stator::supervisor::sockets::{SocketKind, SocketSpec};
/// let s: SocketSpec = "http::8000".parse().unwrap();
/// assert_eq!((s.kind, s.address.as_str()), (SocketKind::Tcp, "127.0.0.1:8000"));
/// assert!("tcp::0".parse::<SocketSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// What to bind.
    pub kind: SocketKind,
    /// `HOST:PORT` (a port alone gets 127.0.0.1), or the Unix socket's path.
    pub address: String,
}

impl FromStr for SocketSpec {
    type Err = String;

    fn from_str(given: &str) -> Result<SocketSpec, String> {
        let (kind, rest) = match given.split_once("::") {
            Some(("tcp" | "http" | "https", rest)) => (SocketKind::Tcp, rest),
            Some(("udp", rest)) => (SocketKind::Udp, rest),
            Some(("unix", rest)) => (SocketKind::Unix, rest),
            // An IPv6 address such as `::1` or `[::]:80` has `::` in it too.
            Some((prefix, _)) if prefix.chars().all(|c| c.is_ascii_alphabetic()) && !prefix.is_empty() => {
                return Err(format!(
                    "invalid --socket {given:?}: unknown kind {prefix:?} (use tcp::, http::, https::, udp:: or unix::)"
                ));
            }
            _ => (SocketKind::Tcp, given),
        };
        if kind == SocketKind::Unix {
            if rest.is_empty() {
                return Err(format!("invalid --socket {given:?}: unix:: needs a path"));
            }
            return Ok(SocketSpec { kind, address: rest.to_owned() });
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => ("127.0.0.1", rest),
        };
        let port = match port.parse::<u16>() {
            Ok(0) => {
                return Err(format!(
                    "invalid --socket {given:?}: port 0 would be a different random port for each start; give one"
                ));
            }
            Ok(port) => port,
            Err(_) => return Err(format!("invalid --socket {given:?}: {port:?} is not a port number (1 to 65535)")),
        };
        if host.is_empty() {
            return Err(format!("invalid --socket {given:?}: no host before the port (or give the port alone)"));
        }
        Ok(SocketSpec { kind, address: format!("{host}:{port}") })
    }
}

impl SocketSpec {
    /// The TCP port, for a TCP socket.
    pub fn tcp_port(&self) -> Option<u16> {
        let port = self.address.rsplit_once(':')?.1;
        if self.kind == SocketKind::Tcp { port.parse().ok() } else { None }
    }
}

impl fmt::Display for SocketSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SocketKind::Tcp => write!(f, "tcp {}", self.address),
            SocketKind::Udp => write!(f, "udp {}", self.address),
            SocketKind::Unix => write!(f, "unix {}", self.address),
        }
    }
}

/// A `--socket` address that could not be bound.
#[derive(Debug)]
pub struct BindError {
    /// The socket.
    pub spec: SocketSpec,
    /// Why, from the OS.
    pub error: std::io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = match self.error.kind() {
            std::io::ErrorKind::AddrInUse => ": another program holds it (stop it, or pick another --socket)",
            std::io::ErrorKind::PermissionDenied => ": ports below 1024 need privileges; pick a higher one",
            _ => "",
        };
        write!(f, "cannot bind --socket {}: {}{hint}", self.spec, self.error)
    }
}

impl std::error::Error for BindError {}

#[cfg(unix)]
pub use held::Sockets;

#[cfg(unix)]
mod held {
    use std::ffi::OsStr;
    use std::io;
    use std::net::{TcpListener, ToSocketAddrs, UdpSocket};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::os::unix::process::CommandExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::{BindError, SocketKind, SocketSpec};

    /// The first file descriptor a child gets a socket as (after stdin, stdout, stderr), as systemd does.
    const FIRST_FD: RawFd = 3;

    /// The bound sockets, held for stator's whole life (close-on-exec: only the command's runs get them, through
    /// [`Sockets::pass_to`]). Unix sockets that stator made are removed when this is dropped.
    #[derive(Debug, Default)]
    pub struct Sockets {
        held: Vec<(SocketSpec, OwnedFd)>,
        made: Vec<PathBuf>,
    }

    impl Sockets {
        /// Binds every socket, in order; the first that fails is the error (the others are closed again).
        pub fn bind(specs: &[SocketSpec]) -> Result<Sockets, BindError> {
            let mut sockets = Sockets::default();
            for spec in specs {
                let fd = sockets.bind_one(spec).map_err(|error| BindError { spec: spec.clone(), error })?;
                sockets.held.push((spec.clone(), fd));
            }
            Ok(sockets)
        }

        fn bind_one(&mut self, spec: &SocketSpec) -> io::Result<OwnedFd> {
            match spec.kind {
                SocketKind::Tcp => Ok(TcpListener::bind(resolve(&spec.address)?.as_slice())?.into()),
                SocketKind::Udp => Ok(UdpSocket::bind(resolve(&spec.address)?.as_slice())?.into()),
                SocketKind::Unix => {
                    let path = Path::new(&spec.address);
                    remove_stale(path);
                    let listener = UnixListener::bind(path)?;
                    self.made.push(path.to_path_buf());
                    Ok(listener.into())
                }
            }
        }

        /// Whether there are none.
        pub fn is_empty(&self) -> bool {
            self.held.is_empty()
        }

        /// What is held, in file-descriptor order, as given: `"tcp 127.0.0.1:8000"`.
        pub fn describe(&self) -> Vec<String> {
            self.held.iter().map(|(spec, _)| spec.to_string()).collect()
        }

        /// Removes the `LISTEN_*` variables from `cmd`'s environment: for a process that gets no sockets.
        pub fn withhold(cmd: &mut Command) {
            cmd.env_remove("LISTEN_FDS").env_remove("LISTEN_PID").env_remove("LISTEN_FDNAMES");
        }

        /// Makes `cmd`'s process get the sockets, blocking, as fds 3, 4, ... and `LISTEN_FDS`; an inherited `LISTEN_PID` and
        /// `LISTEN_FDNAMES` are removed (they would describe someone else's sockets).
        #[allow(unsafe_code)]
        pub fn pass_to(&self, cmd: &mut Command) {
            Sockets::withhold(cmd);
            if self.held.is_empty() {
                return;
            }
            cmd.env("LISTEN_FDS", OsStr::new(&self.held.len().to_string()));
            // A run shares the sockets' open file descriptions: one that made them non-blocking (Python's
            // `settimeout`, Node) would hand the next run `EAGAIN` from a blocking `accept`. Each run gets them as
            // they were bound.
            for (_, fd) in &self.held {
                let _ = rustix::io::ioctl_fionbio(fd, false);
            }
            let sources: Vec<RawFd> = self.held.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
            let mut parked: Vec<RawFd> = vec![-1; sources.len()];
            // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe operations are
            // allowed. It makes only `fcntl(F_DUPFD_CLOEXEC)` and `dup2` system calls, writes into a vector
            // allocated before the fork (no allocation, no lock), and builds no error that allocates. The fds it
            // names are stator's own, open for its whole life (`self` outlives the spawn).
            unsafe {
                cmd.pre_exec(move || place(&sources, &mut parked));
            }
        }
    }

    /// Moves `sources` to fds 3, 4, ...: first each to a close-on-exec copy above that range (a source may sit
    /// where another is going), then each copy onto its place, where `dup2` leaves it open across exec. The copies
    /// close at exec.
    #[allow(unsafe_code)]
    fn place(sources: &[RawFd], parked: &mut [RawFd]) -> io::Result<()> {
        let above = FIRST_FD + sources.len() as RawFd;
        for (i, &src) in sources.iter().enumerate() {
            // SAFETY: `src` is open in the child (inherited from stator, which holds it); borrowed for this call.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(src) };
            parked[i] = std::os::fd::IntoRawFd::into_raw_fd(rustix::io::fcntl_dupfd_cloexec(fd, above)?);
        }
        for (i, &copy) in parked.iter().enumerate() {
            // SAFETY: `copy` was opened above; the target is replaced by `dup2` and must not be closed by us, so
            // it is held as a `ManuallyDrop`.
            let copy = unsafe { std::os::fd::BorrowedFd::borrow_raw(copy) };
            let mut target = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(FIRST_FD + i as RawFd) });
            rustix::io::dup2(copy.as_fd(), &mut target)?;
        }
        Ok(())
    }

    fn resolve(address: &str) -> io::Result<Vec<std::net::SocketAddr>> {
        let found: Vec<_> = address.to_socket_addrs()?.collect();
        if found.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "the host name has no address"));
        }
        Ok(found)
    }

    /// Removes a Unix socket left by an earlier stator (nobody accepts on it); anything else at the path stays, and
    /// the bind then says why.
    fn remove_stale(path: &Path) {
        use std::os::unix::fs::FileTypeExt;
        let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
        if is_socket && UnixStream::connect(path).is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused) {
            let _ = std::fs::remove_file(path);
        }
    }

    impl Drop for Sockets {
        fn drop(&mut self) {
            for path in &self.made {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<(SocketKind, String), String> {
        s.parse::<SocketSpec>().map(|s| (s.kind, s.address))
    }

    #[test]
    fn systemfd_spellings_parse() {
        let tcp = |a: &str| Ok((SocketKind::Tcp, a.to_owned()));
        assert_eq!(spec("8000"), tcp("127.0.0.1:8000"));
        assert_eq!(spec("0.0.0.0:80"), tcp("0.0.0.0:80"));
        assert_eq!(spec("tcp::9000"), tcp("127.0.0.1:9000"));
        assert_eq!(spec("http::localhost:3000"), tcp("localhost:3000"));
        assert_eq!(spec("https::443"), tcp("127.0.0.1:443"));
        assert_eq!(spec("[::1]:8080"), tcp("[::1]:8080"));
        assert_eq!(spec("udp::127.0.0.1:53"), Ok((SocketKind::Udp, "127.0.0.1:53".into())));
        assert_eq!(spec("unix::/tmp/app.sock"), Ok((SocketKind::Unix, "/tmp/app.sock".into())));
    }

    #[test]
    fn bad_addresses_are_one_line_naming_what_is_wrong() {
        for (given, says) in [
            ("tcp::0", "port 0"),
            ("http", "not a port number"),
            ("65536", "not a port number"),
            ("ftp::21", "unknown kind \"ftp\""),
            ("unix::", "needs a path"),
            (":80", "no host"),
            ("", "not a port number"),
        ] {
            let e = spec(given).expect_err(given);
            assert!(e.contains(says) && e.starts_with("invalid --socket") && !e.contains('\n'), "{given}: {e}");
        }
    }

    #[test]
    fn only_tcp_sockets_have_a_tcp_port() {
        let port = |s: &str| s.parse::<SocketSpec>().ok().and_then(|s| s.tcp_port());
        assert_eq!((port("8000"), port("http::[::1]:81")), (Some(8000), Some(81)));
        assert_eq!((port("udp::127.0.0.1:53"), port("unix::/tmp/a:1")), (None, None));
    }

    #[test]
    fn shown_with_kind() {
        assert_eq!("8000".parse::<SocketSpec>().map(|s| s.to_string()), Ok("tcp 127.0.0.1:8000".into()));
    }
}
