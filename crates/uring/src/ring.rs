//! The completion loop: each operation is submitted with the callback to run when the kernel
//! reports it complete, and with everything the kernel reads or writes meanwhile.
//!
//! One turn of [`Ring::run`]: submit every queued operation and wait for at least one
//! completion, in one `io_uring_enter`; then, for each completion, find the operation its
//! `user_data` names (a slab key, as the event loop's tokens are), take it out of the slab —
//! with the buffer or address it had lent to the kernel — and run its callback, which usually
//! submits the next operation. The loop ends when no operation is in flight and no work handed
//! to another thread is still out ([`Ring::hold`]).
//!
//! **Ownership.** An [`Op`] holds what its kernel operation uses (the bytes of a `send`, the
//! address of a `connect`, the 8 bytes an eventfd `read` fills) from submission until its
//! completion arrives, and hands it back to the callback then; nothing else can reach it
//! meanwhile. Receive buffers belong to the pool (`buffers.rs`). Timeouts are read by the kernel
//! while it takes in the submission, so their `timespec`s live in `timespecs`, one per
//! submission-queue slot, each rewritten only once the slot's previous entry was consumed.
//! Dropping the ring with operations in flight cancels them and waits for their completions
//! before any of that memory is freed (or leaks it, if the kernel will not say it is done).
//!
//! **Deadlines.** `connect`, `send` and `recv` take a deadline, which the loop keeps, not the
//! kernel: a heap of `(deadline, user_data)`, earliest first. Each turn, before it waits, the
//! loop cancels (`IORING_OP_ASYNC_CANCEL`, by `user_data`) every operation whose deadline has
//! passed, and waits no later than the next deadline (the timeout of `io_uring_enter`'s
//! extended argument); a cancelled operation completes with `ECANCELED`, and its callback gets
//! [`io::ErrorKind::TimedOut`]. The cancellation's own completion names no owner (`UNOWNED`)
//! and is only counted. An operation that completes in time leaves its entry in the heap,
//! dropped when it comes to the top or when such entries outnumber the operations in flight.
//! (A linked timeout, `IORING_OP_LINK_TIMEOUT`, would have the kernel keep each deadline: a
//! second submission and completion for every operation, and a kernel timer armed and
//! disarmed, where the heap costs a push and a pop; on a kept connection that was a sixth of
//! the loop's time.) Timers are the kernel's: given as absolute times on `CLOCK_MONOTONIC`
//! (`IORING_TIMEOUT_ABS`), not as the time left when they are pushed, since the kernel arms
//! them only at the next `io_uring_enter`, after the rest of the turn's callbacks, and a span
//! would count from there.

// This module hands pointers to the kernel in submission entries; every such push is here.
#![allow(unsafe_code)]

use std::{
    cell::Cell,
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    io, mem,
    net::SocketAddr,
    os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd},
    rc::Rc,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use io_uring::{
    IoUring, Probe, cqueue, opcode, squeue,
    types::{CancelBuilder, Fd, SubmitArgs, TimeoutFlags, Timespec},
};
use nix::{
    libc,
    sys::{
        eventfd::{EfdFlags, EventFd},
        socket::{SockaddrLike, SockaddrStorage},
    },
    time::{ClockId, clock_gettime},
};
use slab::Slab;

use crate::buffers::{BufRing, Chunk};

/// The buffer group of the receive pool (the only one).
const GROUP: u16 = 0;
/// Submission-queue slots. A full queue is submitted early, so this bounds how many
/// operations one `io_uring_enter` carries, not how many may be in flight.
const SUBMISSION_ENTRIES: u32 = 1024;
/// Completion-queue slots, at least. A fetch has at most two completions due at once (its
/// operation and, once its deadline passed, the cancellation's; over TLS too, one operation at
/// a time), and
/// a connection kept idle between fetches has none, so [`Ring::new`] makes room for two per
/// connection; past it, the kernel keeps the overflow and the loop still sees every one.
const MIN_COMPLETION_ENTRIES: u32 = 4096;
/// Most receive buffers in the pool; see [`Ring::new`].
const MAX_BUFFERS: u16 = 256;
/// Fewest receive buffers in the pool.
const MIN_BUFFERS: u16 = 16;
/// `user_data` of completions that belong to no slab entry: cancellations and timeout
/// removals. They are only counted, so that the loop ends exactly when nothing is owed.
const UNOWNED: u64 = u64::MAX;

/// The operations the loop submits, each checked with the kernel's probe before the loop is
/// used, with the kernel that added it.
const REQUIRED: &[(u8, &str)] = &[
    (opcode::Socket::CODE, "IORING_OP_SOCKET (Linux 5.19)"),
    (opcode::Connect::CODE, "IORING_OP_CONNECT (Linux 5.5)"),
    (opcode::Send::CODE, "IORING_OP_SEND (Linux 5.6)"),
    (opcode::Recv::CODE, "IORING_OP_RECV (Linux 5.6)"),
    (opcode::Close::CODE, "IORING_OP_CLOSE (Linux 5.6)"),
    (opcode::Read::CODE, "IORING_OP_READ (Linux 5.6)"),
    (opcode::Timeout::CODE, "IORING_OP_TIMEOUT (Linux 5.4)"),
    (
        opcode::TimeoutRemove::CODE,
        "IORING_OP_TIMEOUT_REMOVE (Linux 5.5)",
    ),
    (
        opcode::AsyncCancel::CODE,
        "IORING_OP_ASYNC_CANCEL (Linux 5.5)",
    ),
];
/// Entries of the deadline heap that outlived their operation, tolerated beyond one per
/// operation in flight before the heap is swept of them (so a sweep of n entries comes after
/// at least n/2 completions: a push stays O(log n) amortized, at C = 10,000 too).
pub(crate) const STALE_DEADLINES: usize = 64;

type OnSocket = Box<dyn FnOnce(&mut Ring, io::Result<Socket>)>;
type OnConnected = Box<dyn FnOnce(&mut Ring, Socket, io::Result<()>)>;
type OnSent = Box<dyn FnOnce(&mut Ring, Socket, io::Result<usize>, Vec<u8>)>;
type OnReceived = Box<dyn FnOnce(&mut Ring, Socket, io::Result<Chunk>)>;
type OnTimer = Box<dyn FnOnce(&mut Ring)>;
type Inbox = Box<dyn FnMut(&mut Ring)>;

/// An operation in flight: what the kernel is using, and what to call with the result. The
/// socket an operation works on is lent too, so that nobody closes it meanwhile: the callback
/// gets it back.
enum Op {
    /// `socket(2)`: nothing lent.
    Socket(OnSocket),
    /// `connect(2)`: the kernel reads the address.
    Connect {
        socket: Socket,
        peer: Rc<Peer>,
        callback: OnConnected,
    },
    /// `send(2)`: the kernel reads the bytes; the callback gets them back.
    Send {
        socket: Socket,
        bytes: Vec<u8>,
        callback: OnSent,
    },
    /// `recv(2)` into a pool buffer the kernel picks when bytes arrive: no buffer lent until
    /// then. The deadline is kept to submit it again if the pool was empty.
    Recv {
        socket: Socket,
        deadline: Instant,
        callback: OnReceived,
    },
    /// `close(2)`: nothing lent, nothing to call.
    Close,
    /// A timer; `None` once cancelled (its completion is still due).
    Timer(Option<OnTimer>),
    /// `read(2)` of the wake-up eventfd: the kernel writes the 8-byte count.
    Wake(Vec<u8>),
}

/// An operation in the slab, with the generation that tells it from earlier users of its key.
struct Entry {
    generation: u32,
    op: Op,
}

/// A TCP socket the ring opened. Each operation on it holds it until its completion, and
/// hands it back to the callback: no one can close it under the kernel. [`Ring::close`]
/// closes it as an operation like the others; dropped instead, it is closed at once by
/// `close(2)`.
#[derive(Debug)]
pub struct Socket(OwnedFd);

/// A descriptor the ring did not open, for tests of what it does with its sockets.
#[cfg(test)]
impl From<OwnedFd> for Socket {
    fn from(fd: OwnedFd) -> Socket {
        Socket(fd)
    }
}

/// An address to connect to. The kernel reads it during a connect, so each connect holds an
/// `Rc` to it until its completion.
#[derive(Debug)]
pub struct Peer {
    addr: SockaddrStorage,
    family: libc::c_int,
}

impl Peer {
    /// The peer at `addr`.
    pub fn new(addr: SocketAddr) -> Rc<Peer> {
        let family = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        Rc::new(Peer {
            addr: SockaddrStorage::from(addr),
            family,
        })
    }
}

/// Identifies a timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerId(u64);

/// What the loop has done so far: how its work was batched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `io_uring_enter` calls: the loop's system calls, bar the eventfd writes of other threads.
    pub enters: u64,
    /// Submission entries handed to the kernel (cancellations included).
    pub submitted: u64,
    /// Completions received (cancellations included).
    pub completions: u64,
    /// `recv`s submitted again because the pool had no free buffer when their bytes came.
    pub requeued: u64,
}

/// Sends values of type `T` from any thread to a handler on the loop's thread.
///
/// Like the event loop's mailbox, but the wake-up is a completion too: the value is queued,
/// an eventfd is bumped, and the loop's pending `read` of that eventfd completes.
pub struct Mailbox<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    values: Mutex<Vec<T>>,
    wake: Arc<EventFd>,
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        Mailbox {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Send> Mailbox<T> {
    /// Queues `value` for the handler and wakes the loop.
    ///
    /// Only a value that finds the queue empty bumps the eventfd (a system call): one already
    /// waiting has its wake-up on the way, and the handler takes every value when it runs.
    pub fn send(&self, value: T) -> io::Result<()> {
        let mut values = self
            .shared
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let first = values.is_empty();
        values.push(value);
        drop(values);
        if first {
            self.shared.wake.write(1)?;
        }
        Ok(())
    }
}

/// The single-threaded completion loop.
pub struct Ring {
    ring: IoUring,
    /// Operations in flight, keyed by the low half of their `user_data`.
    ops: Slab<Entry>,
    next_generation: u32,
    /// Completions due that name no entry (cancellations, timeout removals).
    unowned: usize,
    /// The deadlines of operations in flight, earliest first, by `user_data`; also entries of
    /// operations that completed since, dropped lazily (see the module's doc).
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The receive pool.
    buffers: Rc<BufRing>,
    /// What timeouts' submission entries point to, one per submission-queue slot: entry
    /// number `n` (counting every entry ever pushed) uses `timespecs[n % len]`.
    timespecs: Box<[Cell<Timespec>]>,
    /// An `Instant` and the `CLOCK_MONOTONIC` time it is, to write deadlines as that clock's
    /// times (see [`monotonic_epoch`]).
    epoch: (Instant, Duration),
    /// Submission entries pushed so far.
    pushed: usize,
    /// Completions taken from the queue and not yet dispatched.
    completed: VecDeque<cqueue::Entry>,
    /// Bumped by other threads' mailboxes.
    wake: Arc<EventFd>,
    /// The eventfd read's buffer while no read is in flight.
    wake_buffer: Option<Vec<u8>>,
    /// Mailbox handlers, run on each wake-up.
    inboxes: Vec<Inbox>,
    /// Outstanding [`Ring::hold`]s.
    holds: usize,
    /// A submission that failed in a callback; `run` returns it.
    failed: Option<io::Error>,
    /// Set by [`Ring::stop`].
    stopped: bool,
    stats: Stats,
    /// What the next `io_uring_enter`s fail with instead of entering: a test cannot make the
    /// kernel refuse a submission (EBUSY, EAGAIN) when it likes.
    #[cfg(test)]
    refusals: VecDeque<io::Error>,
}

impl Ring {
    /// A loop sized for about `connections` in flight.
    ///
    /// The receive pool has one 4 KiB buffer per connection up to 256 (and at least 16): a
    /// buffer is taken only while a completion is being handled and comes back before the
    /// next `io_uring_enter`, so a pool is short only when more `recv`s complete in one turn
    /// than it has buffers, and then the `recv`s left without one are submitted again.
    ///
    /// Fails when io_uring cannot be used here, with a message that says why (see
    /// [`crate::unavailable`]).
    pub fn new(connections: usize) -> io::Result<Ring> {
        let buffers = receive_buffers(connections);
        // The kernel clamps a larger request to its own maximum (`setup_clamp`).
        let completions = connections
            .saturating_mul(2)
            .checked_next_power_of_two()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(u32::MAX)
            .max(MIN_COMPLETION_ENTRIES);
        Ring::with_sizes(completions, buffers)
    }

    /// Bytes of the receive pool of a loop sized for `connections` ([`Ring::new`]): shared by
    /// its connections, a buffer each up to 256 of them, and no more beyond.
    pub fn receive_pool_bytes(connections: usize) -> usize {
        usize::from(receive_buffers(connections)) * c10k_core::CHUNK_SIZE
    }

    /// A loop whose completion queue has `completions` slots and whose pool has `buffers`
    /// (a power of two).
    pub(crate) fn with_sizes(completions: u32, buffers: u16) -> io::Result<Ring> {
        let ring = build(completions).map_err(|err| unavailable("io_uring_setup failed", &err))?;
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|err| unavailable("IORING_REGISTER_PROBE failed", &err))?;
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring is unavailable: this kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11)",
            ));
        }
        if let Some((_, name)) = REQUIRED.iter().find(|(code, _)| !probe.is_supported(*code)) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring is unavailable: this kernel lacks {name}"),
            ));
        }
        let buffers = BufRing::register(
            &ring.submitter(),
            GROUP,
            buffers,
            c10k_core::CHUNK_SIZE as u32,
        )
        .map_err(|err| {
            unavailable(
                "registering a ring of provided buffers (Linux 5.19) failed",
                &err,
            )
        })?;
        let slots = ring.params().sq_entries() as usize;
        Ok(Ring {
            timespecs: (0..slots).map(|_| Cell::new(Timespec::new())).collect(),
            epoch: monotonic_epoch()?,
            ring,
            ops: Slab::new(),
            next_generation: 0,
            unowned: 0,
            deadlines: BinaryHeap::new(),
            buffers,
            pushed: 0,
            completed: VecDeque::new(),
            wake: Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC)?),
            wake_buffer: Some(vec![0; 8]),
            inboxes: Vec::new(),
            holds: 0,
            failed: None,
            stopped: false,
            stats: Stats::default(),
            #[cfg(test)]
            refusals: VecDeque::new(),
        })
    }

    /// Opens a TCP socket for `peer`'s address family.
    pub fn socket(
        &mut self,
        peer: &Peer,
        callback: impl FnOnce(&mut Ring, io::Result<Socket>) + 'static,
    ) {
        let sqe =
            opcode::Socket::new(peer.family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0).build();
        self.submit(sqe, None, Op::Socket(Box::new(callback)));
    }

    /// Connects `socket` to `peer`, unless `deadline` passes first.
    pub fn connect(
        &mut self,
        socket: Socket,
        peer: &Rc<Peer>,
        deadline: Instant,
        callback: impl FnOnce(&mut Ring, Socket, io::Result<()>) + 'static,
    ) {
        let sqe = opcode::Connect::new(fd(&socket), peer.addr.as_ptr(), peer.addr.len()).build();
        let op = Op::Connect {
            socket,
            peer: Rc::clone(peer),
            callback: Box::new(callback),
        };
        self.submit(sqe, Some(deadline), op);
    }

    /// Sends `bytes[from..]` on `socket`, unless `deadline` passes first; the callback gets
    /// how many bytes went out (maybe fewer) and `bytes` back.
    pub fn send(
        &mut self,
        socket: Socket,
        bytes: Vec<u8>,
        from: usize,
        deadline: Instant,
        callback: impl FnOnce(&mut Ring, Socket, io::Result<usize>, Vec<u8>) + 'static,
    ) {
        let rest = &bytes[from.min(bytes.len())..];
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        let sqe = opcode::Send::new(fd(&socket), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let op = Op::Send {
            socket,
            bytes,
            callback: Box::new(callback),
        };
        self.submit(sqe, Some(deadline), op);
    }

    /// Receives what `socket` has next (up to one pool buffer), unless `deadline` passes
    /// first. An empty chunk is the end of the stream.
    pub fn recv(
        &mut self,
        socket: Socket,
        deadline: Instant,
        callback: impl FnOnce(&mut Ring, Socket, io::Result<Chunk>) + 'static,
    ) {
        self.submit_recv(socket, deadline, Box::new(callback));
    }

    fn submit_recv(&mut self, socket: Socket, deadline: Instant, callback: OnReceived) {
        let (_, size) = self.buffers.shape();
        let sqe = opcode::Recv::new(fd(&socket), std::ptr::null_mut(), size)
            .buf_group(GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT);
        let op = Op::Recv {
            socket,
            deadline,
            callback,
        };
        self.submit(sqe, Some(deadline), op);
    }

    /// Closes `socket`, as an operation: the loop does not end before it is closed. If the
    /// kernel will not take the operation (and the run fails), closes it now instead.
    pub fn close(&mut self, socket: Socket) {
        if !self.reserve(1) {
            drop(socket);
            return;
        }
        // The descriptor is the kernel's to close from here: with room made, the push holds.
        let sqe = opcode::Close::new(Fd(socket.0.into_raw_fd())).build();
        self.submit(sqe, None, Op::Close);
    }

    /// Runs `callback` once at `deadline` (or as soon after as the loop gets to it).
    pub fn call_at(
        &mut self,
        deadline: Instant,
        callback: impl FnOnce(&mut Ring) + 'static,
    ) -> TimerId {
        self.reserve(1);
        let timespec = self.timespec(deadline);
        let sqe = opcode::Timeout::new(timespec)
            .flags(TimeoutFlags::ABS)
            .build();
        TimerId(self.submit(sqe, None, Op::Timer(Some(Box::new(callback)))))
    }

    /// Cancels a timer: its callback is dropped now, and the kernel's timeout removed. Returns
    /// whether it was still pending.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        let Some(Entry {
            op: Op::Timer(callback),
            ..
        }) = self.entry(timer.0)
        else {
            return false;
        };
        if callback.take().is_none() {
            return false;
        }
        let sqe = opcode::TimeoutRemove::new(timer.0)
            .build()
            .user_data(UNOWNED);
        self.reserve(1);
        // Its completion is owed only if the kernel has the entry. If not, the run fails, and
        // the timer's own completion still comes at its deadline, or when the ring is dropped.
        if self.push(&[sqe]) {
            self.unowned += 1;
        }
        true
    }

    /// A mailbox whose values `handler` receives on this loop's thread, one call per value.
    /// The handler lives as long as the loop.
    pub fn mailbox<T: Send + 'static>(
        &mut self,
        mut handler: impl FnMut(&mut Ring, T) + 'static,
    ) -> Mailbox<T> {
        let shared = Arc::new(Shared {
            values: Mutex::new(Vec::new()),
            wake: Arc::clone(&self.wake),
        });
        let inbox = Arc::clone(&shared);
        self.inboxes.push(Box::new(move |ring| {
            let values =
                mem::take(&mut *inbox.values.lock().unwrap_or_else(PoisonError::into_inner));
            for value in values {
                handler(ring, value);
            }
        }));
        Mailbox { shared }
    }

    /// Keeps [`Ring::run`] from returning while work handed to another thread (which will
    /// answer through a [`Mailbox`]) is not back; pair with [`Ring::release`]. While any hold
    /// is out, a `read` of the wake-up eventfd is in flight.
    pub fn hold(&mut self) {
        self.holds += 1;
    }

    /// Ends one [`Ring::hold`].
    pub fn release(&mut self) {
        self.holds = self.holds.saturating_sub(1);
        if self.holds == 0 && self.wake_buffer.is_none() {
            // The last hold ended while the eventfd's `read` is in flight (not from a mailbox
            // handler, which runs once it completed): nothing may bump the eventfd again, so
            // bump it here, for the read to complete and the loop to be able to end.
            if let Err(err) = self.wake.write(1) {
                self.failed.get_or_insert(err.into());
            }
        }
    }

    /// Bytes one operation in flight takes in the slab (its callback's box aside).
    pub fn operation_size() -> usize {
        size_of::<Entry>()
    }

    /// Bytes of one operation's entry in the deadline heap.
    pub fn deadline_size() -> usize {
        size_of::<Reverse<(Instant, u64)>>()
    }

    /// Bytes of one completion-queue slot.
    pub fn completion_size() -> usize {
        size_of::<cqueue::Entry>()
    }

    /// How the loop's work was batched so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Operations in flight, cancellations included.
    pub fn in_flight(&self) -> usize {
        self.ops.len() + self.unowned
    }

    /// Makes [`Ring::run`] return after the callback that calls this, whatever is in flight.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Submits operations and runs the callbacks of their completions until no operation is
    /// in flight and no hold is out, or [`Ring::stop`] is called.
    pub fn run(&mut self) -> io::Result<()> {
        self.stopped = false;
        loop {
            if let Some(err) = self.failed.take() {
                return Err(err);
            }
            if self.in_flight() == 0 && self.holds == 0 && self.completed.is_empty() {
                return Ok(());
            }
            if self.holds > 0
                && let Some(buffer) = self.wake_buffer.take()
            {
                self.read_wake(buffer);
            }
            if self.completed.is_empty() {
                let until = self.expire();
                // Making room for a cancellation may have brought completions in already.
                if self.completed.is_empty() {
                    self.enter(1, until)?;
                }
            }
            while let Some(cqe) = self.completed.pop_front() {
                self.dispatch(&cqe);
                if self.stopped {
                    return Ok(());
                }
            }
        }
    }

    /// Submits what is queued and waits for `want` completions (0: none), or else until
    /// `until` if given, then takes every completion there is into `completed`. False if the
    /// kernel took nothing this time and is to be asked again: a signal came, or (EBUSY) it
    /// holds completions it could not post for want of room, and takes no submission until
    /// those already posted are taken out, which this call does before it returns.
    fn enter(&mut self, want: usize, until: Option<Instant>) -> io::Result<bool> {
        self.stats.enters += 1;
        let took = match self.submit_and_wait(want, until) {
            Ok(submitted) => {
                self.stats.submitted += submitted as u64;
                true
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => false,
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => false,
            Err(err) => return Err(err),
        };
        let before = self.completed.len();
        self.completed.extend(self.ring.completion());
        self.stats.completions += (self.completed.len() - before) as u64;
        Ok(took)
    }

    /// `io_uring_enter`: submits what is queued and waits for `want` completions, or else
    /// until `until`. A wait that times out having submitted nothing counts as zero submitted.
    fn submit_and_wait(&mut self, want: usize, until: Option<Instant>) -> io::Result<usize> {
        #[cfg(test)]
        if let Some(err) = self.refusals.pop_front() {
            return Err(err);
        }
        let Some(until) = until else {
            return self.ring.submit_and_wait(want);
        };
        let timeout = Timespec::from(until.saturating_duration_since(Instant::now()));
        let args = SubmitArgs::new().timespec(&timeout);
        match self.ring.submitter().submit_with_args(want, &args) {
            Err(err) if err.raw_os_error() == Some(libc::ETIME) => Ok(0),
            other => other,
        }
    }

    /// Cancels every operation whose deadline has come, dropping the heap's entries of
    /// operations no longer in flight on the way; returns the next deadline still ahead.
    fn expire(&mut self) -> Option<Instant> {
        if self.deadlines.is_empty() {
            return None;
        }
        let now = Instant::now();
        while let Some(&Reverse((deadline, user_data))) = self.deadlines.peek() {
            if !in_flight(&self.ops, user_data) {
                self.deadlines.pop();
                continue;
            }
            if deadline > now {
                return Some(deadline);
            }
            self.deadlines.pop();
            let sqe = opcode::AsyncCancel::new(user_data)
                .build()
                .user_data(UNOWNED);
            // If the kernel will not take it, the run fails, and no completion is owed.
            if self.reserve(1) && self.push(&[sqe]) {
                self.unowned += 1;
            }
        }
        None
    }

    /// Keeps `deadline` for the operation `user_data` names, sweeping the heap first if
    /// entries of completed operations outnumber those in flight.
    fn watch(&mut self, deadline: Instant, user_data: u64) {
        if self.deadlines.len() >= 2 * self.ops.len() + STALE_DEADLINES {
            let ops = &self.ops;
            self.deadlines
                .retain(|&Reverse((_, user_data))| in_flight(ops, user_data));
        }
        self.deadlines.push(Reverse((deadline, user_data)));
    }

    /// Entries in the deadline heap, those of completed operations included.
    #[cfg(test)]
    pub(crate) fn deadlines_kept(&self) -> usize {
        self.deadlines.len()
    }

    /// Has the next `io_uring_enter`s fail with `errors`, one each, without entering.
    #[cfg(test)]
    pub(crate) fn refuse_enters(&mut self, errors: impl IntoIterator<Item = io::Error>) {
        self.refusals.extend(errors);
    }

    /// Free slots in the submission queue.
    pub(crate) fn room(&mut self) -> usize {
        let sq = self.ring.submission();
        sq.capacity() - sq.len()
    }

    /// Runs the callback of one completion.
    fn dispatch(&mut self, cqe: &cqueue::Entry) {
        if cqe.user_data() == UNOWNED {
            self.unowned -= 1;
            return;
        }
        let Some(op) = self.take(cqe.user_data()) else {
            debug_assert!(false, "a completion for no operation: {cqe:?}");
            return;
        };
        let res = cqe.result();
        match op {
            Op::Socket(callback) => {
                // SAFETY: a successful socket completion carries a new descriptor that nothing
                // else owns.
                let socket = result(res).map(|fd| Socket(unsafe { OwnedFd::from_raw_fd(fd) }));
                callback(self, socket);
            }
            Op::Connect {
                socket,
                peer,
                callback,
            } => {
                // The kernel is done with the address.
                drop(peer);
                callback(self, socket, deadline_result(res).map(drop));
            }
            Op::Send {
                socket,
                bytes,
                callback,
            } => {
                callback(
                    self,
                    socket,
                    deadline_result(res).map(|n| n as usize),
                    bytes,
                );
            }
            Op::Recv {
                socket,
                deadline,
                callback,
            } => {
                let chunk = match cqueue::buffer_select(cqe.flags()) {
                    Some(bid) => Chunk::lent(Rc::clone(&self.buffers), bid, res.max(0) as usize),
                    None => Chunk::empty(),
                };
                if res == -libc::ENOBUFS {
                    // No free buffer when the bytes came: not a failure, just too early.
                    self.stats.requeued += 1;
                    return self.submit_recv(socket, deadline, callback);
                }
                callback(self, socket, deadline_result(res).map(|_| chunk));
            }
            Op::Close => {}
            Op::Timer(callback) => {
                if res == -libc::ETIME
                    && let Some(callback) = callback
                {
                    callback(self);
                }
            }
            Op::Wake(buffer) => {
                self.wake_buffer = Some(buffer);
                let mut inboxes = mem::take(&mut self.inboxes);
                for inbox in &mut inboxes {
                    inbox(self);
                }
                inboxes.append(&mut self.inboxes);
                self.inboxes = inboxes;
            }
        }
    }

    fn read_wake(&mut self, mut buffer: Vec<u8>) {
        let sqe = opcode::Read::new(Fd(self.wake.as_raw_fd()), buffer.as_mut_ptr(), 8).build();
        self.submit(sqe, None, Op::Wake(buffer));
    }

    /// Puts `op` in the slab and pushes its submission entry, with its `deadline` in the heap
    /// if there is one. Returns its `user_data`.
    fn submit(&mut self, sqe: squeue::Entry, deadline: Option<Instant>, op: Op) -> u64 {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let key = self.ops.insert(Entry { generation, op });
        let user_data = u64::from(generation) << 32
            | u64::from(u32::try_from(key).expect("fewer than 2^32 operations in flight"));
        let sqe = sqe.user_data(user_data);
        self.reserve(1);
        if !self.push(&[sqe]) {
            // The kernel never saw the entry: what the operation holds can go.
            self.ops.remove(key);
        } else if let Some(deadline) = deadline {
            self.watch(deadline, user_data);
        }
        user_data
    }

    /// Makes room for `n` entries in the submission queue, submitting what is queued if need
    /// be, as many times as the kernel asks to be asked again. Each time the completions it
    /// is waiting on are taken out, so it can post the ones it holds, and then take the queue.
    /// False, with the run failed, if there is no room still.
    fn reserve(&mut self, n: usize) -> bool {
        while self.room() < n {
            match self.enter(0, None) {
                Ok(false) => {}
                Ok(true) => break,
                Err(err) => {
                    self.failed.get_or_insert(err);
                    return false;
                }
            }
        }
        let room = self.room() >= n;
        if !room {
            self.failed.get_or_insert_with(stayed_full);
        }
        room
    }

    /// The `timespec` for the next entry pushed, set to `deadline` on `CLOCK_MONOTONIC` (a
    /// deadline already past stays past: the kernel fires its timeout as soon as it arms it).
    ///
    /// Call after [`Ring::reserve`]: the slot is free once the entry that used it a queue's
    /// length ago was consumed, which room in the queue guarantees.
    fn timespec(&self, deadline: Instant) -> *const Timespec {
        let slot = &self.timespecs[self.pushed % self.timespecs.len()];
        let (instant, monotonic) = self.epoch;
        slot.set(Timespec::from(
            monotonic + deadline.saturating_duration_since(instant),
        ));
        slot.as_ptr()
    }

    /// Pushes entries that [`Ring::reserve`] made room for; false if there was none.
    fn push(&mut self, entries: &[squeue::Entry]) -> bool {
        // SAFETY: every pointer in these entries stays valid until the kernel is done with
        // it: buffers and addresses are owned by the operation's slab entry until its
        // completion is dispatched (and the ring's `Drop` waits for completions, or leaks);
        // receive buffers belong to the pool, which outlives every `recv`; `timespec`s are
        // read while the entry is submitted, and their slot is not rewritten before then.
        let pushed = unsafe { self.ring.submission().push_multiple(entries) }.is_ok();
        if pushed {
            self.pushed = self.pushed.wrapping_add(entries.len());
        } else {
            self.failed.get_or_insert_with(stayed_full);
        }
        pushed
    }

    /// The entry a `user_data` names, if it is still in flight.
    fn entry(&mut self, user_data: u64) -> Option<&mut Entry> {
        in_flight(&self.ops, user_data).then(|| &mut self.ops[key(user_data)])
    }

    /// Takes the operation a `user_data` names out of the slab, if it is still in flight.
    fn take(&mut self, user_data: u64) -> Option<Op> {
        in_flight(&self.ops, user_data).then(|| self.ops.remove(key(user_data)).op)
    }

    /// Cancels everything in flight and waits for the completions; false if the kernel would
    /// not, in which case it may still use what the operations hold.
    fn cancel_everything(&mut self) -> bool {
        let _ = self.ring.submit();
        match self
            .ring
            .submitter()
            .register_sync_cancel(None, CancelBuilder::any())
        {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(_) => return false,
        }
        loop {
            while let Some(cqe) = self.completed.pop_front() {
                if cqe.user_data() == UNOWNED {
                    self.unowned -= 1;
                } else if let Some(op) = self.take(cqe.user_data()) {
                    // Dropped, not called: the loop is going away.
                    drop(op);
                }
            }
            if self.in_flight() == 0 {
                return true;
            }
            if self.enter(1, None).is_err() {
                return false;
            }
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.in_flight() > 0 && !self.cancel_everything() {
            // The kernel may still write into the pool or read what an operation holds: leave
            // that memory allocated for good rather than free it under the kernel.
            mem::forget(Rc::clone(&self.buffers));
            mem::forget(mem::take(&mut self.ops));
            return;
        }
        let _ = self.ring.submitter().unregister_buf_ring(GROUP);
    }
}

/// Receive buffers for about `connections` in flight: see [`Ring::new`].
fn receive_buffers(connections: usize) -> u16 {
    connections
        .checked_next_power_of_two()
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(MAX_BUFFERS)
        .clamp(MIN_BUFFERS, MAX_BUFFERS)
}

/// The ring, with the flags that let the kernel run completions only when the loop asks for
/// them (one thread submits, and it waits for completions only in `io_uring_enter`), or
/// without them on kernels older than 6.1.
fn build(completions: u32) -> io::Result<IoUring> {
    let tuned = IoUring::builder()
        .setup_cqsize(completions)
        .setup_clamp()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(SUBMISSION_ENTRIES);
    match tuned {
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
            .setup_cqsize(completions)
            .setup_clamp()
            .build(SUBMISSION_ENTRIES),
        other => other,
    }
}

/// The error of a loop that cannot be built, saying why in one line.
fn unavailable(what: &str, err: &io::Error) -> io::Error {
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => {
            "; the kernel has no io_uring, or a seccomp filter hides it".to_owned()
        }
        Some(libc::EPERM | libc::EACCES) => {
            match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
                Ok(value) if value.trim() != "0" => {
                    format!("; kernel.io_uring_disabled is {}", value.trim())
                }
                _ => "; a seccomp filter or a security module forbids it".to_owned(),
            }
        }
        _ => String::new(),
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("io_uring is unavailable: {what}: {err}{why}"),
    )
}

/// An `Instant` and the time on `CLOCK_MONOTONIC` it stands for. On Linux an `Instant` *is* a
/// reading of that clock, and it is the clock io_uring's timeouts count on unless told
/// otherwise, but `std` does not show the reading: this reads both, the clock last, so the
/// pair errs (by the nanoseconds between the reads) towards a later time, never an earlier one.
fn monotonic_epoch() -> io::Result<(Instant, Duration)> {
    let instant = Instant::now();
    let monotonic = clock_gettime(ClockId::CLOCK_MONOTONIC)?;
    Ok((instant, Duration::from(monotonic)))
}

/// The error of a submission the kernel never took.
fn stayed_full() -> io::Error {
    io::Error::other("the submission queue stayed full")
}

fn fd(socket: &Socket) -> Fd {
    Fd(socket.0.as_raw_fd())
}

/// A completion's result: a count or descriptor, or an error.
fn result(res: i32) -> io::Result<i32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res)
    }
}

/// Whether the operation `user_data` names is in `ops`, not an earlier user of its key.
fn in_flight(ops: &Slab<Entry>, user_data: u64) -> bool {
    ops.get(key(user_data))
        .is_some_and(|entry| u64::from(entry.generation) == user_data >> 32)
}

/// The slab key a `user_data` names: its low half (the high half is the generation).
fn key(user_data: u64) -> usize {
    (user_data & u64::from(u32::MAX)) as usize
}

/// The result of an operation with a deadline: cancelled means its deadline passed (the
/// loop cancels nothing else while it runs).
fn deadline_result(res: i32) -> io::Result<u32> {
    if res == -libc::ECANCELED {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    result(res).map(|n| n as u32)
}
