//! `--socket`, end to end with real processes: stator binds the listener once and every run of a real Python HTTP
//! server takes it as fd 3 (`LISTEN_FDS`), so clients hammering it through restarts are never refused; a connection
//! made while no run accepts waits for the next run (where a server that binds the port itself refuses it); what
//! the command, the build and a bad address see.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::sandbox::{Sandbox, alive, fast, free_port, read_lines, s, which};
use crate::support::{skip, write};

/// An HTTP server answering every GET with its pid. It takes its listener from fd 3 when `LISTEN_FDS` is set and
/// binds `PORT` itself otherwise; with `GATED`, it waits for the file `$DIR/go` before it accepts (or binds). On
/// SIGTERM it finishes the request in hand, then exits: a graceful server, so that what a client sees is stator's
/// doing.
const SERVER: &str = r#"
import os, signal, socket, sys, time
stop = False
def term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, term)
with open(os.environ["LOG"], "a") as log:
    log.write("start %d\n" % os.getpid())
if os.environ.get("GATED"):
    while not os.path.exists(os.path.join(os.environ["DIR"], "go")) and not stop:
        time.sleep(0.01)
if os.environ.get("LISTEN_FDS"):
    s = socket.socket(fileno=3)
else:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    s.listen(128)
s.settimeout(0.05)
pid = str(os.getpid()).encode()
while not stop:
    try:
        c, _ = s.accept()
    except (socket.timeout, InterruptedError):
        continue
    with c:
        c.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(pid), pid))
"#;

/// What the command (or, with an argument, the build) sees: `LISTEN_*`, and every socket among its fds with its
/// address and blocking mode, one line each, appended to `$DIR/seen`; then it makes them non-blocking.
const CHECK: &str = r#"
import os, socket, sys
who = sys.argv[1]
out = ["%s fds=%s pid=%s names=%s" % (who, os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"),
       os.environ.get("LISTEN_FDNAMES"))]
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
    try:
        link = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        continue
    if link.startswith("socket:"):
        s = socket.socket(fileno=os.dup(fd))
        listening = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        blocking = os.get_blocking(fd)
        out.append("%s fd %d %s %s listening=%d blocking=%d" % (who, fd, s.family.name, s.getsockname(), listening,
                   blocking))
        # As Python's settimeout does: the next run must get it blocking again.
        os.set_blocking(fd, False)
with open(os.path.join(os.environ["DIR"], "seen"), "a") as f:
    f.write("\n".join(out) + "\n")
"#;

fn python() -> Option<std::path::PathBuf> {
    let found = which("python3");
    if found.is_none() {
        skip("python3 is not on PATH");
    }
    found
}

/// What one HTTP GET got.
#[derive(Debug)]
enum Got {
    /// A 200 answer from this pid.
    Answer(String),
    /// The connection was refused: nothing was listening.
    Refused,
    /// Anything else (a reset, a timeout, another status).
    Failed(String),
}

fn get(port: u16) -> Got {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(stream) => stream,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Got::Refused,
        Err(e) => return Got::Failed(format!("connect: {e}")),
    };
    answer(&mut stream)
}

fn answer(stream: &mut TcpStream) -> Got {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    if let Err(e) = stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n") {
        return Got::Failed(format!("write: {e}"));
    }
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        return Got::Failed(format!("read: {e}"));
    }
    let text = String::from_utf8_lossy(&bytes);
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") => Got::Answer(body.to_owned()),
        _ => Got::Failed(format!("answer: {text:?}")),
    }
}

#[derive(Default)]
struct Tally {
    pids: BTreeSet<String>,
    answers: usize,
    refused: usize,
    failed: Vec<String>,
}

#[test]
fn a_client_hammering_through_restarts_is_never_refused() {
    let Some(python) = python() else { return };
    let sb = Sandbox::new();
    let src = sb.src();
    let server = sb.join("server.py");
    write(&server, SERVER);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let args = fast(&["-w", s(&src), "--socket", &addr]);
    let command = vec![s(&python).to_owned(), s(&server).to_owned(), sb.marker()];
    let mut st = sb.spawn(&args, &command);
    // Before stator has bound the port, a refusal is nothing to count.
    st.wait("the first run to answer", || matches!(get(port), Got::Answer(_)));

    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (tally, done) = (Arc::clone(&tally), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let got = get(port);
                let mut t = tally.lock().expect("tally");
                match got {
                    Got::Answer(pid) => {
                        t.answers += 1;
                        t.pids.insert(pid);
                    }
                    Got::Refused => t.refused += 1,
                    Got::Failed(why) => t.failed.push(why),
                }
            }
        })
    };
    let pids = |tally: &Mutex<Tally>| tally.lock().expect("tally").pids.len();
    // Three restarts, each made once the client got answers from the run before: it hammers throughout.
    for edit in 1..=3 {
        st.wait(&format!("answers from {edit} runs"), || pids(&tally) >= edit);
        // A file each time: one file changed at the start of every run looks like the command's own doing.
        write(src.join(format!("app{edit}.py")), "edit\n");
    }
    st.wait("answers from the 4th run", || pids(&tally) >= 4);
    let answered = tally.lock().expect("tally").answers;
    st.wait("a few more answers", || tally.lock().expect("tally").answers >= answered + 5);
    done.store(true, Ordering::SeqCst);
    hammer.join().expect("the client thread");

    let t = tally.lock().expect("tally");
    eprintln!("{} answers from {} runs, {} refused, {} failed", t.answers, t.pids.len(), t.refused, t.failed.len());
    assert_eq!(t.refused, 0, "connections refused during restarts\n{}", st.stderr());
    assert!(t.failed.is_empty(), "requests that got no answer: {:?}", t.failed);
    assert!(t.pids.len() >= 4, "answers came from {:?}", t.pids);
    let starts = read_lines(&sb.log()).iter().filter(|l| l.starts_with("start ")).count();
    assert!(starts >= 4, "the server started {starts} times");
}

/// Restarts the gated server once, and makes a connection while the new run has not opened its listener yet:
/// what the client gets then (after the run is let go).
fn connect_between_runs(with_socket: bool) -> Option<(Got, Vec<String>)> {
    let python = python()?;
    let sb = Sandbox::new();
    let src = sb.src();
    let server = sb.join("server.py");
    write(&server, SERVER);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = fast(&["-w", s(&src)]);
    if with_socket {
        args.extend(["--socket", &addr]);
    }
    let mut cmd = sb.command(&args, &[s(&python).to_owned(), s(&server).to_owned(), sb.marker()]);
    cmd.env("GATED", "1").env("PORT", port.to_string());
    let go = sb.join("go");
    write(&go, "");
    let mut st = sb.spawn_cmd(cmd);
    st.wait("the first run to answer", || matches!(get(port), Got::Answer(_)));

    std::fs::remove_file(&go).expect("close the gate");
    write(src.join("app.py"), "edit\n");
    let starts = || read_lines(&sb.log()).iter().filter(|l| l.starts_with("start ")).count();
    st.wait("the second run to start", || starts() >= 2);
    let first = read_lines(&sb.log())[0].clone();
    let old: i32 = first.trim_start_matches("start ").parse().expect("a pid");
    st.wait("the first run to be gone", || !alive(old));

    // Nothing of the command accepts now.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let got = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Got::Refused,
        Err(e) => Got::Failed(format!("connect: {e}")),
        Ok(mut stream) => {
            write(&go, "");
            answer(&mut stream)
        }
    };
    Some((got, read_lines(&sb.log())))
}

#[test]
fn a_connection_between_runs_waits_for_the_next_run() {
    let Some((got, log)) = connect_between_runs(true) else { return };
    let second = log[1].trim_start_matches("start ").to_owned();
    assert!(matches!(&got, Got::Answer(pid) if *pid == second), "got {got:?}; the server's log: {log:?}");
}

#[test]
fn without_socket_the_same_connection_is_refused() {
    let Some((got, log)) = connect_between_runs(false) else { return };
    assert!(matches!(got, Got::Refused), "got {got:?}; the server's log: {log:?}");
}

#[test]
fn every_run_gets_fds_3_and_4_blocking_with_listen_fds_and_the_build_gets_none() {
    let Some(python) = python() else { return };
    let sb = Sandbox::new();
    let src = sb.src();
    let check = sb.join("check.py");
    write(&check, CHECK);
    let port = free_port();
    let tcp = format!("tcp::{port}");
    let path = sb.join("app.sock");
    let unix = format!("unix::{}", s(&path));
    let build = format!("{} {} build", s(&python), s(&check));
    let args = fast(&["-w", s(&src), "--socket", &tcp, "--socket", &unix, "--build", &build]);
    let mut cmd = sb.command(&args, &[s(&python).to_owned(), s(&check).to_owned(), "run".into(), sb.marker()]);
    // Inherited from a socket-activated stator: about someone else's sockets, not passed on.
    cmd.env("LISTEN_PID", "1").env("LISTEN_FDNAMES", "theirs").env("LISTEN_FDS", "7");
    let mut st = sb.spawn_cmd(cmd);
    let seen = sb.join("seen");
    st.wait("the build and the command to report", || read_lines(&seen).iter().any(|l| l.starts_with("run fds")));
    let build = "build fds=None pid=None names=None".to_owned();
    let run = [
        "run fds=2 pid=None names=None".to_owned(),
        format!("run fd 3 AF_INET ('127.0.0.1', {port}) listening=1 blocking=1"),
        format!("run fd 4 AF_UNIX {} listening=1 blocking=1", s(&path)),
    ];
    let first: Vec<String> = std::iter::once(build.clone()).chain(run.iter().cloned()).collect();
    assert_eq!(read_lines(&seen), first, "what the build and the command saw");
    // The run made them non-blocking; after a change, the build and the next run see what the first did.
    write(src.join("edit.py"), "edit\n");
    st.wait("the second run to report", || read_lines(&seen).iter().filter(|l| l.starts_with("run fds")).count() >= 2);
    let twice: Vec<String> = first.iter().chain(first.iter()).cloned().collect();
    assert_eq!(read_lines(&seen), twice, "what the second build and run saw");
    assert!(path.exists(), "the Unix socket is bound while stator runs");
    st.signal(rustix::process::Signal::TERM);
    st.wait_exit();
    assert!(!path.exists(), "stator removes the Unix socket it made");
}

#[test]
fn a_bad_address_is_one_line_and_exit_2() {
    let sb = Sandbox::new();
    let (status, _, stderr) = sb.run(&["-w", s(&sb.src()), "--socket", "tcp::http"], &sb.sh("echo ran >> \"$LOG\""));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid --socket \"tcp::http\""), "{stderr}");
    assert!(read_lines(&sb.log()).is_empty(), "the command ran");
}

#[test]
fn a_port_in_use_is_one_line_exit_1_and_no_run() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let (status, _, stderr) = sb.run(&["-w", s(&sb.src()), "--socket", &port], &sb.sh("echo ran >> \"$LOG\""));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&format!("cannot bind --socket tcp 127.0.0.1:{port}: ")), "{stderr}");
    assert!(errors[0].contains("another program holds it"), "{stderr}");
    assert!(read_lines(&sb.log()).is_empty(), "the command ran");
}
