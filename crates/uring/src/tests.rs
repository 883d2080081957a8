//! The loop on its own, against loopback sockets: timers, one exchange, deadlines, a pool
//! that runs dry, a mailbox, dropping the loop mid-flight, a full submission queue the kernel
//! will not take; rings on several threads trading values, and failing; and the crate's lints.
//!
//! Every test needs io_uring: where it is unavailable, each says so on stderr and passes
//! without running (see `ring_or_skip!`).

use std::{
    cell::{Cell, OnceCell, RefCell},
    io::{self, Read as _, Write as _},
    net::{SocketAddr, TcpListener},
    os::{fd::OwnedFd, unix::net::UnixStream},
    rc::Rc,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use nix::libc;

use crate::{
    Chunk, Peer, Ring, Socket,
    rings::{Meeting, Peers, run_rings},
};

/// A ring built with `$make`, or — where io_uring is unavailable — a return from the test,
/// having said why on stderr (directly, so that it shows under `cargo test`'s capture).
macro_rules! ring_or_skip {
    ($make:expr) => {
        match crate::unavailable() {
            Some(reason) => {
                let _ = writeln!(io::stderr(), "skipping: {reason}");
                return;
            }
            None => $make.expect("io_uring is available, so the ring builds"),
        }
    };
}

/// A server on loopback: for each connection, in turn, reads what arrives within `delay`,
/// writes `response` and closes (a `None` response: holds the connection open, silent, for
/// five seconds).
fn serve(connections: usize, response: Option<&'static [u8]>, delay: Duration) -> SocketAddr {
    serve_and_tell(connections, response, delay).0
}

/// [`serve`], and a receiver that gets a message each time a response has been written.
fn serve_and_tell(
    connections: usize,
    response: Option<&'static [u8]>,
    delay: Duration,
) -> (SocketAddr, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (written, told) = mpsc::channel();
    thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            // Read the request first: closing with unread bytes would reset the connection.
            stream
                .set_read_timeout(Some(delay.max(Duration::from_millis(50))))
                .unwrap();
            let _ = stream.read(&mut [0; 1024]);
            match response {
                Some(bytes) => {
                    let _ = stream.write_all(bytes);
                    let _ = written.send(());
                }
                None => held.push(stream),
            }
        }
        thread::sleep(Duration::from_secs(5));
    });
    (addr, told)
}

/// Opens a socket and connects it to `peer`, then hands it to `then`.
fn open(ring: &mut Ring, peer: &Rc<Peer>, then: impl FnOnce(&mut Ring, Socket) + 'static) {
    let to = Rc::clone(peer);
    ring.socket(peer, move |ring, socket| {
        let socket = socket.expect("a socket");
        let deadline = Instant::now() + Duration::from_secs(5);
        ring.connect(socket, &to, deadline, move |ring, socket, connected| {
            connected.expect("connected");
            then(ring, socket);
        });
    });
}

/// Receives until the end of the stream, appending to `into`; then closes the socket.
fn read_all(ring: &mut Ring, socket: Socket, into: Rc<RefCell<Vec<u8>>>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    ring.recv(
        socket,
        deadline,
        move |ring, socket, chunk: io::Result<Chunk>| {
            let chunk = chunk.expect("bytes or the end");
            if chunk.is_empty() {
                ring.close(socket);
            } else {
                into.borrow_mut().extend_from_slice(&chunk);
                drop(chunk);
                read_all(ring, socket, into);
            }
        },
    );
}

#[test]
fn a_timer_runs_at_its_deadline_and_a_cancelled_one_never() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let started = Instant::now();
    let ran = Rc::new(Cell::new(None));
    let cancelled_ran = Rc::new(Cell::new(false));
    let on_due = Rc::clone(&ran);
    ring.call_at(started + Duration::from_millis(30), move |_| {
        on_due.set(Some(Instant::now()));
    });
    let on_cancelled = Rc::clone(&cancelled_ran);
    let timer = ring.call_at(started + Duration::from_millis(10), move |_| {
        on_cancelled.set(true);
    });
    assert!(ring.cancel(timer));
    assert!(!ring.cancel(timer), "a timer is cancelled once");
    ring.run().unwrap();
    let ran = ran.get().expect("the timer ran");
    assert!(ran >= started + Duration::from_millis(30));
    assert!(!cancelled_ran.get());
    assert_eq!(ring.in_flight(), 0, "run returns with nothing owed");
}

#[test]
fn an_exchange_sends_the_request_and_reads_to_the_end() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let response: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nhello";
    let peer = Peer::new(serve(1, Some(response), Duration::ZERO));
    let received = Rc::new(RefCell::new(Vec::new()));
    let into = Rc::clone(&received);
    open(&mut ring, &peer, move |ring, socket| {
        let deadline = Instant::now() + Duration::from_secs(5);
        let request = b"GET / HTTP/1.0\r\n\r\n".to_vec();
        ring.send(
            socket,
            request,
            0,
            deadline,
            move |ring, socket, sent, request| {
                assert_eq!(
                    sent.unwrap(),
                    request.len(),
                    "the kernel hands the bytes back"
                );
                read_all(ring, socket, into);
            },
        );
    });
    ring.run().unwrap();
    assert_eq!(&*received.borrow(), response);
    let stats = ring.stats();
    assert_eq!(stats.submitted, stats.completions);
    // One connection's steps follow each other, so none share an enter; but no enter is
    // wasted either: each waits for a completion, and the deadlines are far (no wait ends
    // on one).
    assert!(stats.enters <= stats.completions, "{stats:?}");
}

#[test]
fn an_operation_past_its_deadline_fails_with_timed_out() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let peer = Peer::new(serve(1, None, Duration::ZERO));
    let outcome = Rc::new(RefCell::new(None));
    let into = Rc::clone(&outcome);
    open(&mut ring, &peer, move |ring, socket| {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(50);
        ring.recv(socket, deadline, move |ring, socket, chunk| {
            *into.borrow_mut() = Some((chunk.map(|c| c.len()).map_err(|e| e.kind()), started));
            ring.close(socket);
        });
    });
    ring.run().unwrap();
    let (result, started) = outcome.borrow_mut().take().expect("the recv completed");
    assert_eq!(result, Err(io::ErrorKind::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(50));
}

/// The heap keeps a deadline for each operation in flight; those of operations that completed
/// in time are dropped when they reach its top, or swept out when they outnumber the live:
/// here a `recv` with the earliest deadline stays at the top while 300 sends on another
/// connection complete in turn, and the heap still holds no more than the sweep allows.
/// Then the `recv`'s deadline passes, and it fails as timed out.
#[test]
fn deadlines_of_operations_done_in_time_do_not_pile_up() {
    let mut ring = ring_or_skip!(Ring::new(2));
    let peer = Peer::new(serve(2, None, Duration::ZERO));
    let timed_out = Rc::new(Cell::new(false));
    let flag = Rc::clone(&timed_out);
    open(&mut ring, &peer, move |ring, socket| {
        let deadline = Instant::now() + Duration::from_secs(1);
        ring.recv(socket, deadline, move |ring, socket, chunk| {
            flag.set(chunk.is_err_and(|err| err.kind() == io::ErrorKind::TimedOut));
            ring.close(socket);
        });
    });
    let (most, sent) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (largest, count) = (Rc::clone(&most), Rc::clone(&sent));
    open(&mut ring, &peer, move |ring, socket| {
        send_in_turn(ring, socket, 300, largest, count);
    });
    ring.run().unwrap();
    assert_eq!(sent.get(), 300);
    assert!(timed_out.get(), "the recv timed out");
    // In flight at most: the recv, one send, and the connect of the other socket; as many
    // entries of completed operations, and the tolerance.
    let allowed = 2 * 3 + crate::ring::STALE_DEADLINES;
    assert!(
        most.get() <= allowed,
        "{} entries, {allowed} allowed",
        most.get()
    );
}

/// Sends one byte `left` times, each once the last is done, noting the largest the deadline
/// heap was; then closes the socket.
fn send_in_turn(
    ring: &mut Ring,
    socket: Socket,
    left: usize,
    most: Rc<Cell<usize>>,
    sent: Rc<Cell<usize>>,
) {
    most.set(most.get().max(ring.deadlines_kept()));
    if left == 0 {
        ring.close(socket);
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    ring.send(
        socket,
        vec![b'x'],
        0,
        deadline,
        move |ring, socket, n, _| {
            assert_eq!(n.expect("sent"), 1);
            sent.set(sent.get() + 1);
            send_in_turn(ring, socket, left - 1, most, sent);
        },
    );
}

/// A deadline is a time, not a span counted from when the kernel takes the entry: operations
/// pushed in one turn expire in the order of their deadlines, however long the rest of the turn
/// runs before its `io_uring_enter` hands them over. Here a sleep stands for a long turn: the
/// first deadlines pass during it, so their operations expire as soon as the kernel has them,
/// before a timer pushed after the sleep for a later deadline. (A span computed at the push
/// and armed at the enter fires late by the rest of the turn: the later timer, the shortest
/// span, came first.)
#[test]
fn deadlines_pushed_in_one_turn_expire_in_their_order() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let peer = Peer::new(serve(1, None, Duration::ZERO));
    let order = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&order);
    open(&mut ring, &peer, move |ring, socket| {
        let turn = Instant::now();
        let first = turn + Duration::from_millis(100);
        let on_recv = Rc::clone(&log);
        ring.recv(socket, first, move |ring, socket, chunk| {
            let timed_out = chunk.map(drop).map_err(|err| err.kind());
            assert_eq!(timed_out, Err(io::ErrorKind::TimedOut));
            on_recv.borrow_mut().push("recv");
            ring.close(socket);
        });
        let on_timer = Rc::clone(&log);
        ring.call_at(first, move |_| on_timer.borrow_mut().push("timer"));
        thread::sleep(Duration::from_millis(150));
        ring.call_at(turn + Duration::from_millis(200), move |_| {
            log.borrow_mut().push("later timer");
        });
    });
    ring.run().unwrap();
    let mut order = order.borrow().clone();
    // The two first deadlines are the same: either may come first.
    order[..2].sort_unstable();
    assert_eq!(order, ["recv", "timer", "later timer"]);
}

#[test]
fn a_recv_that_finds_the_pool_empty_is_submitted_again() {
    // One buffer for two connections whose bytes are both waiting: the second `recv` of the
    // same submission finds no buffer, and must be submitted again rather than fail.
    let mut ring = ring_or_skip!(Ring::with_sizes(4096, 1));
    let response: &[u8] = b"all of it";
    let (addr, written) = serve_and_tell(2, Some(response), Duration::ZERO);
    let peer = Peer::new(addr);
    let (connected, both) = (Rc::new(RefCell::new(Vec::new())), 2);
    for _ in 0..both {
        let connected = Rc::clone(&connected);
        open(&mut ring, &peer, move |_, socket| {
            connected.borrow_mut().push(socket)
        });
    }
    ring.run().unwrap();
    // Wait until both responses are in the sockets (loopback delivers as the server writes),
    // then read them in one submission.
    for _ in 0..both {
        written.recv().expect("the server writes both responses");
    }
    thread::sleep(Duration::from_millis(20));
    let received: Vec<_> = (0..both)
        .map(|_| Rc::new(RefCell::new(Vec::new())))
        .collect();
    for (socket, into) in connected.borrow_mut().drain(..).zip(&received) {
        read_all(&mut ring, socket, Rc::clone(into));
    }
    ring.run().unwrap();
    for bytes in &received {
        assert_eq!(&*bytes.borrow(), response);
    }
    assert!(ring.stats().requeued >= 1, "{:?}", ring.stats());
}

#[test]
fn a_mailbox_brings_values_back_and_holds_the_loop_meanwhile() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let got = Rc::new(RefCell::new(Vec::new()));
    let into = Rc::clone(&got);
    let mailbox = ring.mailbox(move |ring, value: u32| {
        into.borrow_mut().push(value);
        ring.release();
    });
    for value in [1, 2] {
        ring.hold();
        let mailbox = mailbox.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            mailbox.send(value).unwrap();
        });
    }
    ring.run().unwrap();
    got.borrow_mut().sort_unstable();
    assert_eq!(*got.borrow(), [1, 2]);
}

/// The last hold can end while the read of the wake-up eventfd is in flight (not from a
/// mailbox's handler): the loop still ends.
#[test]
fn the_loop_ends_when_the_last_hold_ends_outside_a_mailbox() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let mailbox = ring.mailbox(|_, (): ()| {});
    ring.hold();
    let start = Instant::now();
    ring.call_at(start + Duration::from_millis(20), Ring::release);
    // Were the read left in flight, only this wake-up, much later, would let the loop end (a
    // guard that keeps no operation in flight of its own, as a timer would).
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(2));
        let _ = mailbox.send(());
    });
    ring.run().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn dropping_the_loop_cancels_what_is_in_flight_without_calling_it() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let peer = Peer::new(serve(1, None, Duration::ZERO));
    let witness = Rc::new(());
    let held = Rc::clone(&witness);
    open(&mut ring, &peer, move |ring, socket| {
        let deadline = Instant::now() + Duration::from_secs(60);
        ring.recv(socket, deadline, move |_, _, _| {
            drop(held);
            panic!("a cancelled operation's callback is dropped, not called");
        });
        ring.call_at(Instant::now() + Duration::from_secs(60), |_| {});
        ring.stop();
    });
    ring.run().unwrap();
    assert!(ring.in_flight() > 0);
    let started = Instant::now();
    drop(ring);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drop does not wait out the timer"
    );
    assert_eq!(Rc::strong_count(&witness), 1, "the callback was dropped");
}

/// Pushes timers due at `due` until the submission queue is full, each counting into `ran`
/// when it runs; returns how many.
fn fill_submission_queue(ring: &mut Ring, due: Instant, ran: &Rc<Cell<usize>>) -> usize {
    let mut pushed = 0;
    while ring.room() > 0 {
        let ran = Rc::clone(ran);
        ring.call_at(due, move |_| ran.set(ran.get() + 1));
        pushed += 1;
    }
    pushed
}

/// An error `io_uring_enter` can give for a submission that the loop does not retry, but
/// fails the run with: the kernel could not allocate what the entries need.
fn cannot_submit() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

/// EBUSY from `io_uring_enter` says the kernel holds completions it could not post, and will
/// take the submission once the loop has reaped those already posted (which every enter
/// does): with the submission queue full, the loop asks again rather than fail with "the
/// submission queue stayed full".
#[test]
fn a_busy_kernel_is_asked_again_for_room_in_a_full_queue() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let (due, ran) = (Instant::now(), Rc::new(Cell::new(0)));
    let timers = fill_submission_queue(&mut ring, due, &ran) + 1;
    let busy = || io::Error::from_raw_os_error(libc::EBUSY);
    ring.refuse_enters([busy(), busy()]);
    let last = Rc::clone(&ran);
    ring.call_at(due, move |_| last.set(last.get() + 1));
    ring.run().unwrap();
    assert_eq!(ran.get(), timers, "every timer was submitted, and ran");
}

/// A timer cancelled while the kernel will not take the removal of its timeout: the callback
/// never runs, the run fails with the kernel's error, and no completion is owed for a removal
/// that never reached the kernel (counting one kept `in_flight` above zero for good, and
/// dropping the ring waited for it forever).
#[test]
fn a_cancel_the_kernel_never_took_owes_no_completion() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let far = Instant::now() + Duration::from_secs(60);
    let ran = Rc::new(Cell::new(0));
    let on_due = Rc::clone(&ran);
    let timer = ring.call_at(far, move |_| on_due.set(on_due.get() + 1));
    let timers = fill_submission_queue(&mut ring, far, &ran) + 1;
    ring.refuse_enters([cannot_submit()]);
    assert!(ring.cancel(timer), "the timer was pending");
    let owed = ring.in_flight();
    if owed != timers {
        // Dropping this ring would wait for the completion that cannot come.
        std::mem::forget(ring);
        panic!("{owed} completions owed for {timers} timers");
    }
    let failed = ring.run().map_err(|err| err.raw_os_error());
    assert_eq!(failed, Err(Some(libc::EAGAIN)));
    // Cancels the timers and waits for their completions: all of them come.
    drop(ring);
    assert_eq!(ran.get(), 0);
}

/// A socket closed while the kernel will not take the `close`: the descriptor is closed all
/// the same (here, so the other end of the pair reads the end of the stream), and the run
/// fails with the kernel's error.
#[test]
fn a_close_the_kernel_never_took_closes_the_descriptor() {
    let mut ring = ring_or_skip!(Ring::new(1));
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    theirs.set_nonblocking(true).unwrap();
    let far = Instant::now() + Duration::from_secs(60);
    fill_submission_queue(&mut ring, far, &Rc::new(Cell::new(0)));
    ring.refuse_enters([cannot_submit()]);
    ring.close(Socket::from(OwnedFd::from(ours)));
    let read = theirs.read(&mut [0; 1]).map_err(|err| err.kind());
    assert_eq!(read, Ok(0), "our end is closed");
    let failed = ring.run().map_err(|err| err.raw_os_error());
    assert_eq!(failed, Err(Some(libc::EAGAIN)));
}

/// The crate's own lint table is the workspace's, but for `unsafe_code` (denied here, so that
/// two modules may allow it) and clippy's `undocumented_unsafe_blocks`.
#[test]
fn lints_are_the_workspace_s() {
    let section = |text: &str, header: &str| -> Vec<String> {
        text.split(&format!("\n{header}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {header}"))
            .split("\n[")
            .next()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let workspace = include_str!("../../../Cargo.toml");
    let crate_toml = include_str!("../Cargo.toml");
    let mut rust = section(workspace, "[workspace.lints.rust]");
    assert!(rust.contains(&r#"unsafe_code = "forbid""#.to_owned()));
    for line in &mut rust {
        if line.starts_with("unsafe_code") {
            *line = r#"unsafe_code = "deny""#.to_owned();
        }
    }
    assert_eq!(section(crate_toml, "[lints.rust]"), rust);
    let mut clippy = section(workspace, "[workspace.lints.clippy]");
    clippy.push(r#"undocumented_unsafe_blocks = "deny""#.to_owned());
    assert_eq!(section(crate_toml, "[lints.clippy]"), clippy);
}

#[test]
fn one_connection_holds_at_most_a_kibibyte() {
    let total: usize = crate::state_sizes()
        .iter()
        .filter(|(what, _)| !what.starts_with("  of which"))
        // The plain connection in flight: not its TLS beside it, nor what it is when kept.
        .filter(|(what, _)| !what.starts_with("over https") && !what.starts_with("kept"))
        .map(|(_, size)| size)
        .sum();
    assert!(total <= 1024, "{total} bytes: {:?}", crate::state_sizes());
}

/// How a ring of [`node`] ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Nothing left in flight: it hung up and its loop ended.
    ByItself,
    /// Stopped by another ring, with its wake-up `read` still in flight.
    Stopped,
    /// Its guard fired: neither happened within five seconds.
    Guard,
}

/// A ring on a thread of [`run_rings`]: meets the others with a mailbox of `u32`s, posts
/// `post`, hangs up (and cancels its guard) once `expected` values came, and runs until its
/// loop ends; returns the values it got and how it ended.
fn node(
    meeting: Meeting<u32>,
    expected: usize,
    post: Vec<(usize, u32)>,
) -> io::Result<(Vec<u32>, End)> {
    let mut ring = Ring::new(1)?;
    let guarded = Rc::new(Cell::new(false));
    let fired = Rc::clone(&guarded);
    let guard = ring.call_at(Instant::now() + Duration::from_secs(5), move |ring| {
        fired.set(true);
        ring.stop();
    });
    let got = Rc::new(RefCell::new(Vec::new()));
    let peers = Rc::new(OnceCell::new());
    let (into, listening) = (Rc::clone(&got), Rc::clone(&peers));
    let hang_up = move |ring: &mut Ring, peers: &Peers<u32>| {
        peers.hang_up(ring);
        ring.cancel(guard);
    };
    let mailbox = ring.mailbox(move |ring, value| {
        into.borrow_mut().push(value);
        if into.borrow().len() == expected {
            hang_up(ring, listening.get().expect("met before any value"));
        }
    });
    let _ = peers.set(meeting.meet(&mut ring, mailbox)?);
    let peers = peers.get().expect("just set");
    peers.post(post);
    if expected == 0 {
        hang_up(&mut ring, peers);
    }
    ring.run()?;
    let end = match (guarded.get(), ring.in_flight()) {
        (true, _) => End::Guard,
        (false, 0) => End::ByItself,
        (false, _) => End::Stopped,
    };
    let got = got.borrow().clone();
    Ok((got, end))
}

#[test]
fn rings_trade_values_and_each_ends_once_it_hangs_up() {
    ring_or_skip!(Ring::new(1));
    let ran = run_rings(vec![0_u32, 1, 2], |index, meeting| {
        // Each ring sends each other ring one value, and expects two.
        let post = (0..3)
            .filter(|&to| to != index)
            .map(|to| (to as usize, 10 * index + to));
        node(meeting, 2, post.collect())
    })
    .unwrap();
    for (index, (mut got, end)) in ran.into_iter().enumerate() {
        got.sort_unstable();
        let want: Vec<u32> = (0..3)
            .filter(|&from| from != index as u32)
            .map(|from| 10 * from + index as u32)
            .collect();
        assert_eq!((got, end), (want, End::ByItself), "ring {index}");
    }
}

#[test]
fn a_ring_that_fails_stops_the_others() {
    ring_or_skip!(Ring::new(1));
    let ended = std::sync::Mutex::new(None);
    let ran = run_rings(vec![0, 1], |index, meeting| {
        if index == 1 {
            let mut ring = Ring::new(1)?;
            let mailbox = ring.mailbox(|_, _: u32| {});
            let _peers = meeting.meet(&mut ring, mailbox)?;
            return Err(io::Error::other("ring 1 failed"));
        }
        // Ring 0 expects a value that never comes: only being stopped ends it.
        let (_, end) = node(meeting, 1, Vec::new())?;
        *ended.lock().unwrap() = Some(end);
        Ok(())
    });
    assert_eq!(ran.unwrap_err().to_string(), "ring 1 failed");
    assert_eq!(*ended.lock().unwrap(), Some(End::Stopped));
}

#[test]
fn a_ring_that_cannot_start_fails_the_meeting() {
    ring_or_skip!(Ring::new(1));
    let ran = run_rings(vec![0, 1], |index, meeting| {
        if index == 1 {
            drop(meeting);
            return Err(io::Error::other("ring 1 could not start"));
        }
        let failed = node(meeting, 0, Vec::new());
        assert_eq!(
            failed.map_err(|err| err.to_string()),
            Err("another ring could not start".to_owned())
        );
        Ok(())
    });
    assert_eq!(ran.unwrap_err().to_string(), "ring 1 could not start");
}
