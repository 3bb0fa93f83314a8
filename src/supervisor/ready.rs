//! Readiness: when a run counts as ready (`--ready-port`, `--ready-log`), and the forwarding of its output that
//! `--ready-log` needs.
//!
//! - **A port** is ready when `127.0.0.1:PORT` or `[::1]:PORT` accepts a TCP connection (a server listening on
//!   `localhost` may have bound either: Node 17 and later bind `::1` where it resolves first). A thread beside the
//!   run tries both every [`PROBE_EVERY`], each try bounded by [`PROBE_TIMEOUT`], until one succeeds or the run
//!   ends; the connection is closed at once (servers see a client that sent nothing).
//! - **A log line** is ready when a line of the command's stdout or stderr matches the regular expression (on the
//!   line's bytes, without its `\n` or `\r\n`; the output need not be UTF-8). To see its output stator must read
//!   it: with `--ready-log` (and only then) the command's stdout and stderr are pipes, and two threads forward
//!   every byte, unchanged and as soon as it is read, to stator's own stdout and stderr. The command's stdin is
//!   untouched (it still holds the terminal, if it was given it), but its output is not a terminal any more:
//!   programs may stop colouring it, and some buffer it (Python: `PYTHONUNBUFFERED=1`).
//!
//! With both, a run is ready once both are. Each run is watched afresh from its start; a run that ends first is
//! never ready. One not ready after [`PATIENCE`] is said once, and still watched.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one connection attempt to the ready port may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// The pause between two connection attempts to the ready port.
pub const PROBE_EVERY: Duration = Duration::from_millis(20);

/// A run not ready this long after its start is said to be late, once.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// When a run ends, its forwarders get this long to pass on what it wrote last, so that it shows before stator
/// says the run ended (a pipe someone outside the run's group still holds does not hold stator up longer).
pub const DRAIN: Duration = Duration::from_millis(500);

/// A line longer than this is matched on its first this many bytes (it is still forwarded whole).
const MAX_LINE: usize = 64 * 1024;

/// What makes a run ready; empty: nothing is watched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadyCheck {
    /// Ready when `127.0.0.1:port` or `[::1]:port` accepts a TCP connection.
    pub port: Option<u16>,
    /// Ready when a line of the command's output matches (its output then goes through pipes).
    pub log: Option<LogPattern>,
}

impl ReadyCheck {
    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.port.is_none() && self.log.is_none()
    }

    /// What is watched, for a message: "localhost:8000 accepts connections", "a line matches /ready/".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(port) = self.port {
            parts.push(format!("localhost:{port} accepts connections"));
        }
        if let Some(log) = &self.log {
            parts.push(format!("a line of its output matches /{}/", log.as_str()));
        }
        parts.join(" and ")
    }
}

/// A `--ready-log` regular expression ([`regex`] syntax), matched against the bytes of each line of output.
#[derive(Debug, Clone)]
pub struct LogPattern(regex::bytes::Regex);

impl LogPattern {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<LogPattern, regex::Error> {
        regex::bytes::Regex::new(pattern).map(LogPattern)
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    fn is_match(&self, line: &[u8]) -> bool {
        self.0.is_match(line)
    }
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &LogPattern) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for LogPattern {}

/// Finds the first line of a stream that matches: fed the stream's bytes as they come, in chunks cut anywhere.
#[derive(Debug)]
pub(crate) struct LineMatcher {
    pattern: LogPattern,
    /// The current line so far (at most [`MAX_LINE`] bytes of it).
    line: Vec<u8>,
    /// A line matched already: nothing more to look at.
    done: bool,
}

impl LineMatcher {
    pub(crate) fn new(pattern: LogPattern) -> LineMatcher {
        LineMatcher { pattern, line: Vec::new(), done: false }
    }

    /// Takes the next bytes of the stream; true the first time a complete line matches.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> bool {
        if self.done {
            return false;
        }
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let room = MAX_LINE.saturating_sub(self.line.len());
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            if piece.ends_with(b"\n") && self.line_matches() {
                return true;
            }
        }
        false
    }

    /// The stream ended: its last line, if it had no `\n`, is a line too. True if it matches.
    pub(crate) fn end(&mut self) -> bool {
        !self.done && !self.line.is_empty() && self.line_matches()
    }

    /// Whether the current line matches (without its line end); starts the next line either way.
    fn line_matches(&mut self) -> bool {
        let mut line = self.line.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        self.done = self.pattern.is_match(line);
        self.line.clear();
        self.done
    }
}

/// When each check of one run passed, shared with the threads that check.
#[derive(Debug, Default)]
struct Shared {
    port: Mutex<Option<Instant>>,
    log: Mutex<Option<Instant>>,
    /// The run is over: the probe stops.
    over: AtomicBool,
}

fn set(slot: &Mutex<Option<Instant>>, at: Instant) {
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_none() {
        *slot = Some(at);
    }
}

fn get(slot: &Mutex<Option<Instant>>) -> Option<Instant> {
    *slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What [`Watch::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The run is ready, this long after its start.
    Ready(Duration),
    /// The run is not ready [`PATIENCE`] after its start.
    Late(Duration),
}

/// One run's readiness, watched from its start until it is ready or the run ends (the watch is dropped).
#[derive(Debug)]
pub(crate) struct Watch {
    since: Instant,
    port: bool,
    log: bool,
    shared: Arc<Shared>,
    late: bool,
    done: bool,
}

impl Watch {
    /// Starts watching a run that started at `since`: the port probe starts now; the log is fed through
    /// [`Watch::forward`]. `None` when `check` is empty.
    pub(crate) fn start(check: &ReadyCheck, since: Instant) -> Option<Watch> {
        if check.is_empty() {
            return None;
        }
        let shared = Arc::new(Shared::default());
        if let Some(port) = check.port {
            let probe = Arc::clone(&shared);
            // Without a thread there is no probe: the run is never ready, and the late notice says so.
            let _ = std::thread::Builder::new().name("stator-ready".into()).spawn(move || probe_port(port, &probe));
        }
        Some(Watch { since, port: check.port.is_some(), log: check.log.is_some(), shared, late: false, done: false })
    }

    /// Forwards `from` (the command's stdout or stderr) to `to` from a new thread, every byte as soon as it is read,
    /// looking for a line `pattern` matches.
    /// The thread ends at the end of `from`: once every process holding the pipe's other end is gone.
    pub(crate) fn forward(
        &self,
        from: impl Read + Send + 'static,
        to: Sink,
        pattern: LogPattern,
    ) -> io::Result<JoinHandle<()>> {
        let shared = Arc::clone(&self.shared);
        let name = match to {
            Sink::Stdout => "stator-stdout",
            Sink::Stderr => "stator-stderr",
        };
        std::thread::Builder::new().name(name.into()).spawn(move || {
            forward(from, to, LineMatcher::new(pattern), || set(&shared.log, Instant::now()));
        })
    }

    /// Whether the run became ready (once), or is late (once), as of `now`.
    pub(crate) fn check(&mut self, now: Instant) -> Option<Outcome> {
        if self.done {
            return None;
        }
        let port = if self.port { get(&self.shared.port) } else { Some(self.since) };
        let log = if self.log { get(&self.shared.log) } else { Some(self.since) };
        if let (Some(port), Some(log)) = (port, log) {
            self.done = true;
            return Some(Outcome::Ready(port.max(log).saturating_duration_since(self.since)));
        }
        let waited = now.saturating_duration_since(self.since);
        if !self.late && waited >= PATIENCE {
            self.late = true;
            return Some(Outcome::Late(waited));
        }
        None
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shared.over.store(true, Ordering::Relaxed);
    }
}

/// Tries to connect to `127.0.0.1:port` and `[::1]:port` until one works or the run is over.
fn probe_port(port: u16, shared: &Shared) {
    let addrs = [SocketAddr::from((Ipv4Addr::LOCALHOST, port)), SocketAddr::from((Ipv6Addr::LOCALHOST, port))];
    while !shared.over.load(Ordering::Relaxed) {
        // A loopback without IPv6 refuses at once: no wait on the address nothing listens on.
        if addrs.iter().any(|addr| TcpStream::connect_timeout(addr, PROBE_TIMEOUT).is_ok()) {
            set(&shared.port, Instant::now());
            return;
        }
        std::thread::sleep(PROBE_EVERY);
    }
}

/// Where forwarded output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    /// Stator's stdout.
    Stdout,
    /// Stator's stderr.
    Stderr,
}

/// Copies `from` to `to` until the end of `from`, each chunk written and flushed as soon as it is read, feeding
/// `matcher`; calls `matched` once a line matches. A write that fails (a closed stdout) drops the chunk, not the
/// stream: the command is never blocked on a full pipe because stator stopped reading.
fn forward(from: impl Read, to: Sink, matcher: LineMatcher, matched: impl FnMut()) {
    copy(from, matcher, matched, |bytes| {
        let _ = match to {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Sink::Stderr => {
                let mut out = io::stderr().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
        };
    });
}

/// [`forward`]'s loop, writing through `write`.
fn copy(mut from: impl Read, mut matcher: LineMatcher, mut matched: impl FnMut(), mut write: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        write(&buf[..n]);
        if matcher.feed(&buf[..n]) {
            matched();
        }
    }
    if matcher.end() {
        matched();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(pattern: &str) -> LineMatcher {
        LineMatcher::new(LogPattern::new(pattern).unwrap())
    }

    /// Feeds `chunks` in order; returns the index of the chunk that matched, or `chunks.len()` if the end did.
    fn first_match(pattern: &str, chunks: &[&[u8]]) -> Option<usize> {
        let mut m = matcher(pattern);
        for (i, chunk) in chunks.iter().enumerate() {
            if m.feed(chunk) {
                return Some(i);
            }
        }
        m.end().then_some(chunks.len())
    }

    #[test]
    fn a_line_matches_once_whole_however_its_bytes_arrive() {
        type Case<'a> = (&'a str, &'a [&'a [u8]], Option<usize>);
        let cases: &[Case<'_>] = &[
            ("ready", &[b"starting\n", b"ready to serve\n"], Some(1)),
            ("ready", &[b"starting\nrea", b"dy\n"], Some(1)),
            ("^ready$", &[b"ready now\n", b"ready\n"], Some(1)),
            // Line ends are not part of the line.
            ("^ready$", &[b"ready\r\n"], Some(0)),
            ("ready$", &[b"not ready\r", b"\n"], Some(1)),
            // An unfinished line waits for its end (or the stream's).
            ("^ready$", &[b"ready", b" or not\n"], None),
            ("ready", &[b"ready"], Some(1)),
            // Bytes, not text: output need not be UTF-8 (`.` is a character, `(?-u:.)` any byte).
            ("caf", &[b"caf\xe9\n"], Some(0)),
            ("caf.$", &[b"caf\xe9\n"], None),
            ("caf(?-u:.)$", &[b"caf\xe9\n"], Some(0)),
            (r"(?-u)\xff", &[b"a\xffb\n"], Some(0)),
            ("x", &[b"", b"\n\n", b"y\n"], None),
            // The pattern is matched anywhere in the line unless anchored.
            ("Listening on .*:8000", &[b"INFO Listening on http://127.0.0.1:8000/\n"], Some(0)),
        ];
        for (pattern, chunks, want) in cases {
            assert_eq!(first_match(pattern, chunks), *want, "/{pattern}/ on {chunks:?}");
        }
    }

    #[test]
    fn only_the_first_match_counts() {
        let mut m = matcher("ok");
        assert!(m.feed(b"ok\n"));
        assert!(!m.feed(b"ok\n"));
        assert!(!m.end());
    }

    #[test]
    fn a_huge_line_is_matched_on_its_start_and_does_not_grow_without_bound() {
        let mut m = matcher("^start");
        let mut big = b"start".to_vec();
        big.resize(10 * MAX_LINE, b'x');
        assert!(!m.feed(&big));
        assert!(m.line.len() <= MAX_LINE);
        assert!(m.feed(b"\n"));
        let mut m = matcher("end$");
        let mut big = vec![b'x'; 2 * MAX_LINE];
        big.extend_from_slice(b"end\n");
        assert!(!m.feed(&big), "the end of a line past the limit is not seen");
        assert!(m.feed(b"end\n"), "the next line is matched whole");
    }

    /// A reader that hands out its bytes in the given pieces, as a pipe does.
    struct Pieces(Vec<&'static [u8]>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(piece);
            Ok(piece.len())
        }
    }

    #[test]
    fn forwarding_copies_every_byte_as_it_comes_and_reports_the_match_once() {
        let pieces: Vec<&'static [u8]> = vec![b"one\r\ntwo \xff", b"\nrea", b"dy\nready\n", b"tail without newline"];
        let mut written = Vec::new();
        let mut hits = 0;
        copy(Pieces(pieces.clone()), matcher("^ready$"), || hits += 1, |b| written.push(b.to_vec()));
        assert_eq!(hits, 1);
        assert_eq!(written, pieces.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), "chunk by chunk, unchanged");
        let mut hits = 0;
        copy(Pieces(vec![b"x\ntail"]), matcher("^tail$"), || hits += 1, |_| {});
        assert_eq!(hits, 1, "the last line counts without its newline");
    }

    #[test]
    fn a_watch_is_ready_when_every_check_passed_and_late_once() {
        let t0 = Instant::now();
        let check = ReadyCheck { port: None, log: Some(LogPattern::new("x").unwrap()) };
        let mut w = Watch::start(&check, t0).unwrap();
        assert_eq!(w.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(w.check(t0 + PATIENCE), Some(Outcome::Late(PATIENCE)));
        assert_eq!(w.check(t0 + PATIENCE * 2), None, "late is said once");
        set(&w.shared.log, t0 + Duration::from_millis(1500));
        assert_eq!(w.check(t0 + PATIENCE * 2), Some(Outcome::Ready(Duration::from_millis(1500))));
        assert_eq!(w.check(t0 + PATIENCE * 3), None, "ready is said once");
        assert!(Watch::start(&ReadyCheck::default(), t0).is_none());
    }

    /// Waits (bounded) for the outcome of a port check on `port`.
    fn port_outcome(port: u16) -> Option<Outcome> {
        let t0 = Instant::now();
        let mut w = Watch::start(&ReadyCheck { port: Some(port), log: None }, t0).unwrap();
        let deadline = t0 + Duration::from_secs(10);
        let mut got = None;
        while got.is_none() && Instant::now() < deadline {
            got = w.check(Instant::now());
            std::thread::sleep(Duration::from_millis(10));
        }
        got
    }

    #[test]
    fn a_port_that_accepts_makes_the_run_ready() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let got = port_outcome(listener.local_addr().unwrap().port());
        assert!(matches!(got, Some(Outcome::Ready(_))), "{got:?}");
    }

    #[test]
    fn a_server_on_the_ipv6_loopback_only_is_ready_too() {
        // As Node binds `localhost` where it resolves to ::1.
        let listener = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("bind [::1] (no IPv6 loopback?)");
        let port = listener.local_addr().unwrap().port();
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "the port is IPv6 only");
        let got = port_outcome(port);
        assert!(matches!(got, Some(Outcome::Ready(_))), "{got:?}");
    }

    #[test]
    fn checks_describe_themselves() {
        let check = ReadyCheck { port: Some(8000), log: Some(LogPattern::new("^ready").unwrap()) };
        assert_eq!(check.describe(), "localhost:8000 accepts connections and a line of its output matches /^ready/");
        assert!(ReadyCheck::default().is_empty());
        assert_eq!(LogPattern::new("a+").unwrap(), LogPattern::new("a+").unwrap());
        assert!(LogPattern::new("(").is_err());
    }
}
