//! Unit tests of the loop itself, with no HTTP in sight.

use std::{
    cell::{OnceCell, RefCell},
    io::{Read, Write},
    rc::Rc,
    thread,
    time::{Duration, Instant},
};

use mio::net::UnixStream;

use super::*;

#[test]
fn run_returns_at_once_when_idle() {
    let mut lp = EventLoop::new().unwrap();
    lp.run().unwrap();
}

#[test]
fn timers_fire_in_deadline_order_and_cancelled_ones_never() {
    let mut lp = EventLoop::new().unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    for ms in [30, 10, 20, 10] {
        let fired = Rc::clone(&fired);
        lp.call_later(Duration::from_millis(ms), move |_| {
            fired.borrow_mut().push(ms)
        });
    }
    let cancelled = {
        let fired = Rc::clone(&fired);
        lp.call_later(Duration::from_millis(15), move |_| {
            fired.borrow_mut().push(15)
        })
    };
    assert!(lp.cancel(cancelled));
    assert!(!lp.cancel(cancelled));
    let start = Instant::now();
    lp.run().unwrap();
    assert_eq!(*fired.borrow(), [10, 10, 20, 30]);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(lp.timers(), 0);
}

#[test]
fn many_cancelled_timers_do_not_accumulate() {
    let mut lp = EventLoop::new().unwrap();
    for _ in 0..10_000 {
        let id = lp.call_later(Duration::from_secs(3600), |_| unreachable!("cancelled"));
        lp.cancel(id);
    }
    assert!(
        lp.timers.heap_len() < 200,
        "{} heap entries",
        lp.timers.heap_len()
    );
    lp.run().unwrap();
}

#[test]
fn a_timer_can_schedule_another() {
    let mut lp = EventLoop::new().unwrap();
    let fired = Rc::new(RefCell::new(0));
    let outer = Rc::clone(&fired);
    lp.call_later(Duration::from_millis(1), move |lp| {
        *outer.borrow_mut() += 1;
        lp.call_soon(move |lp| {
            lp.call_later(Duration::from_millis(1), move |_| *outer.borrow_mut() += 1);
        });
    });
    lp.run().unwrap();
    assert_eq!(*fired.borrow(), 2);
}

#[test]
fn readable_socket_runs_its_callback_and_a_deregistered_one_never_again() {
    let mut lp = EventLoop::new().unwrap();
    let (mut ours, mut theirs) = UnixStream::pair().unwrap();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let socket = Rc::new(RefCell::new(None::<UnixStream>));
    let token = {
        let (calls, socket) = (Rc::clone(&calls), Rc::clone(&socket));
        lp.register(&mut ours, Interest::READABLE, move |lp, ready| {
            let mut socket = socket.borrow_mut();
            let stream = socket.as_mut().expect("the test put the socket here");
            let mut buf = [0; 16];
            let n = stream.read(&mut buf).unwrap();
            calls.borrow_mut().push((ready.readable, buf[..n].to_vec()));
            lp.stop();
        })
        .unwrap()
    };
    *socket.borrow_mut() = Some(ours);
    theirs.write_all(b"one").unwrap();
    lp.run().unwrap();
    assert_eq!(*calls.borrow(), [(true, b"one".to_vec())]);

    // Deregister, then make the socket readable again: the callback must not run.
    let mut ours = socket.borrow_mut().take().unwrap();
    lp.deregister(token, &mut ours).unwrap();
    theirs.write_all(b"two").unwrap();
    lp.call_later(Duration::from_millis(50), |_| {});
    lp.run().unwrap();
    assert_eq!(calls.borrow().len(), 1);
    assert_eq!(lp.sources(), 0);
}

#[test]
fn a_callback_can_deregister_itself_and_the_loop_ends() {
    let mut lp = EventLoop::new().unwrap();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let ours = Rc::new(RefCell::new(ours));
    let token = Rc::new(RefCell::new(None));
    let calls = Rc::new(RefCell::new(0));
    let registered = {
        let (ours2, token2, calls2) = (Rc::clone(&ours), Rc::clone(&token), Rc::clone(&calls));
        lp.register(&mut *ours.borrow_mut(), Interest::READABLE, move |lp, _| {
            *calls2.borrow_mut() += 1;
            let token = token2.borrow().expect("set before the loop runs");
            lp.deregister(token, &mut *ours2.borrow_mut()).unwrap();
        })
        .unwrap()
    };
    *token.borrow_mut() = Some(registered);
    theirs.write_all(b"x").unwrap();
    lp.run().unwrap(); // returns: the only socket deregistered itself
    assert_eq!(*calls.borrow(), 1);
}

#[test]
fn reregister_replaces_the_callback() {
    let mut lp = EventLoop::new().unwrap();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let ours = Rc::new(RefCell::new(ours));
    let steps = Rc::new(RefCell::new(Vec::new()));
    let token = Rc::new(RefCell::new(None));
    let first = {
        let (ours, steps, token) = (Rc::clone(&ours), Rc::clone(&steps), Rc::clone(&token));
        move |lp: &mut EventLoop, ready: Ready| {
            assert!(ready.writable);
            steps.borrow_mut().push("writable");
            let token_value = token.borrow().expect("set before the loop runs");
            let (ours2, steps2) = (Rc::clone(&ours), Rc::clone(&steps));
            lp.reregister(
                token_value,
                &mut *ours.borrow_mut(),
                Interest::READABLE,
                move |lp, ready| {
                    assert!(ready.readable);
                    steps2.borrow_mut().push("readable");
                    lp.deregister(token_value, &mut *ours2.borrow_mut())
                        .unwrap();
                },
            )
            .unwrap();
        }
    };
    let registered = lp
        .register(&mut *ours.borrow_mut(), Interest::WRITABLE, first)
        .unwrap();
    *token.borrow_mut() = Some(registered);
    theirs.write_all(b"x").unwrap();
    lp.run().unwrap();
    assert_eq!(*steps.borrow(), ["writable", "readable"]);
}

#[test]
fn remote_delivers_from_another_thread() {
    let mut lp = EventLoop::new().unwrap();
    let remote = lp.remote();
    let got = Rc::new(RefCell::new(None));
    let got_in_loop = Rc::clone(&got);
    // The loop must not return while the other thread's answer is on its way.
    lp.hold();
    let (sender, receiver) = std::sync::mpsc::channel();
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let id = thread::current().id();
        remote
            .call_soon(move |lp| {
                sender.send(id).unwrap();
                lp.release();
            })
            .unwrap();
    });
    lp.call_soon(move |_| *got_in_loop.borrow_mut() = Some(thread::current().id()));
    lp.run().unwrap();
    let sender_thread = receiver.recv().unwrap();
    worker.join().unwrap();
    assert_ne!(Some(sender_thread), *got.borrow());
    assert_eq!(
        *got.borrow(),
        Some(thread::current().id()),
        "callbacks run on the loop's thread"
    );
}

#[test]
fn stop_ends_run_early() {
    let mut lp = EventLoop::new().unwrap();
    lp.call_later(Duration::from_secs(3600), |_| {});
    lp.call_soon(EventLoop::stop);
    lp.run().unwrap();
    assert_eq!(lp.timers(), 1);
}

/// `stop` ends `run` as soon as the calling callback returns: the soon callbacks queued behind
/// it and the timers due with it wait for the next `run`, and are not lost.
#[test]
fn stop_returns_right_after_the_calling_callback() {
    let mut lp = EventLoop::new().unwrap();
    let ran = Rc::new(RefCell::new(Vec::new()));
    let push = |name: &'static str, stop: bool| {
        let ran = Rc::clone(&ran);
        move |lp: &mut EventLoop| {
            ran.borrow_mut().push(name);
            if stop {
                lp.stop();
            }
        }
    };
    lp.call_soon(push("soon 1", true));
    lp.call_soon(push("soon 2", false));
    lp.run().unwrap();
    assert_eq!(*ran.borrow(), ["soon 1"]);
    lp.run().unwrap();
    assert_eq!(*ran.borrow(), ["soon 1", "soon 2"]);

    ran.borrow_mut().clear();
    let due = Instant::now();
    lp.call_at(due, push("timer 1", true));
    lp.call_at(due, push("timer 2", false));
    lp.run().unwrap();
    assert_eq!(*ran.borrow(), ["timer 1"]);
    lp.run().unwrap();
    assert_eq!(*ran.borrow(), ["timer 1", "timer 2"]);
}

/// Two sockets ready in the same poll, and the first callback stops the loop: the other
/// socket's event is kept for the next `run` (edge-triggered readiness is reported once).
#[test]
fn stop_keeps_the_events_of_the_turn_for_the_next_run() {
    let mut lp = EventLoop::new().unwrap();
    let calls = Rc::new(RefCell::new(0));
    let mut pairs = Vec::new();
    for _ in 0..2 {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let calls = Rc::clone(&calls);
        lp.register(&mut ours, Interest::READABLE, move |lp, _| {
            *calls.borrow_mut() += 1;
            lp.stop();
        })
        .unwrap();
        theirs.write_all(b"x").unwrap();
        pairs.push((ours, theirs));
    }
    lp.run().unwrap();
    assert_eq!(*calls.borrow(), 1);
    // Were the second event lost, nothing would wake the loop again but this timer.
    lp.call_later(Duration::from_secs(2), EventLoop::stop);
    lp.run().unwrap();
    assert_eq!(*calls.borrow(), 2);
}

#[test]
fn a_mailbox_delivers_values_from_other_threads_to_loop_side_state() {
    let mut lp = EventLoop::new().unwrap();
    // Loop-side state that could not cross threads.
    let received = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&received);
    let mailbox = lp.mailbox(move |lp: &mut EventLoop, value: u32| {
        sink.borrow_mut().push(value);
        lp.release();
    });
    let senders: Vec<_> = (0..4u32)
        .map(|n| {
            lp.hold();
            let mailbox = mailbox.clone();
            thread::spawn(move || mailbox.send(n * 10).unwrap())
        })
        .collect();
    lp.run().unwrap();
    for sender in senders {
        sender.join().unwrap();
    }
    let mut got = received.borrow().clone();
    got.sort_unstable();
    assert_eq!(got, [0, 10, 20, 30]);
}

#[test]
fn many_loops_pass_a_value_round_a_ring_and_end() {
    const LOOPS: usize = 3;
    let visits = run_loops((0..LOOPS).collect(), |index, mut lp, meeting| {
        let visits = Rc::new(RefCell::new(Vec::new()));
        let peers = Rc::new(OnceCell::new());
        let (seen, next) = (Rc::clone(&visits), Rc::clone(&peers));
        let inbox = lp.mailbox(move |lp: &mut EventLoop, hops: usize| {
            seen.borrow_mut().push(hops);
            let peers: &Peers<usize> = next.get().unwrap();
            if hops == usize::MAX {
                lp.release();
            } else if hops < 2 * LOOPS {
                peers.post([((index + 1) % LOOPS, hops + 1)]);
            } else {
                peers.post((0..LOOPS).map(|to| (to, usize::MAX)));
            }
        });
        let _ = peers.set(meeting.meet(inbox)?);
        // Kept running until the end is announced.
        lp.hold();
        if index == 0 {
            peers.get().unwrap().post([(0, 0)]);
        }
        lp.run()?;
        drop(peers);
        Ok(visits.take())
    })
    .unwrap();
    // Loop 0 announces the end on the sixth hop.
    assert_eq!(visits[0], [0, 3, 6, usize::MAX]);
    assert_eq!(visits[1], [1, 4, usize::MAX]);
    assert_eq!(visits[2], [2, 5, usize::MAX]);
}

#[test]
fn a_loop_that_fails_stops_the_others() {
    let result = run_loops(vec![0, 1], |index, mut lp, meeting| {
        let _peers = meeting.meet(lp.mailbox(|_: &mut EventLoop, _: ()| {}))?;
        if index == 1 {
            return Err(io::Error::other("loop 1 gives up"));
        }
        // Would wait forever for a message from loop 1.
        lp.hold();
        lp.run()
    });
    assert_eq!(result.unwrap_err().to_string(), "loop 1 gives up");
}

#[test]
fn a_loop_that_cannot_meet_fails_the_meeting() {
    let result = run_loops(vec![0, 1], |index, mut lp, meeting| {
        if index == 1 {
            return Err(io::Error::other("no mailbox"));
        }
        meeting.meet(lp.mailbox(|_: &mut EventLoop, _: ()| {}))?;
        Ok(())
    });
    assert!(result.is_err());
}

#[test]
fn wake_ups_are_not_lost_when_senders_race() {
    const SENDS: usize = 4 * 2000;
    let mut lp = EventLoop::new().unwrap();
    let count = Rc::new(RefCell::new(0));
    // A lost wake-up would leave values in the queue until this gives up.
    let give_up = lp.call_later(Duration::from_secs(10), EventLoop::stop);
    let counted = Rc::clone(&count);
    let mailbox = lp.mailbox(move |lp: &mut EventLoop, ()| {
        *counted.borrow_mut() += 1;
        if *counted.borrow() == SENDS {
            lp.cancel(give_up);
        }
    });
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let mailbox = mailbox.clone();
            thread::spawn(move || {
                for _ in 0..SENDS / 4 {
                    mailbox.send(()).unwrap();
                }
            })
        })
        .collect();
    lp.run().unwrap();
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(*count.borrow(), SENDS);
}

/// `close` needs no deregistration: the closed socket's callback never runs, even for an
/// event polled in the same turn, and the loop ends once nothing is registered.
#[test]
fn a_closed_socket_is_forgotten_even_with_its_event_already_polled() {
    let mut lp = EventLoop::new().unwrap();
    let (mut first, mut first_peer) = UnixStream::pair().unwrap();
    let (mut second, mut second_peer) = UnixStream::pair().unwrap();
    let calls = Rc::new(RefCell::new(Vec::new()));
    // Whichever callback runs first closes the other socket (and its own).
    let sockets: Rc<RefCell<Vec<(Token, UnixStream)>>> = Rc::new(RefCell::new(Vec::new()));
    let mut tokens = Vec::new();
    for (name, stream) in [("first", &mut first), ("second", &mut second)] {
        let (calls, sockets) = (Rc::clone(&calls), Rc::clone(&sockets));
        let token = lp
            .register(stream, Interest::READABLE, move |lp, _| {
                calls.borrow_mut().push(name);
                for (token, stream) in sockets.borrow_mut().drain(..) {
                    lp.close(token, stream);
                }
            })
            .unwrap();
        tokens.push(token);
    }
    sockets
        .borrow_mut()
        .extend(tokens.into_iter().zip([first, second]));
    first_peer.write_all(b"x").unwrap();
    second_peer.write_all(b"y").unwrap();
    // Both events arrive in one poll.
    thread::sleep(Duration::from_millis(20));
    lp.run().unwrap(); // returns: nothing is registered any more
    assert_eq!(calls.borrow().len(), 1, "calls: {:?}", calls.borrow());
    assert_eq!(lp.sources(), 0);
}

/// A parked socket keeps nothing alive: the loop ends with it still open, and its callback
/// (with whatever it captured) is dropped. What the peer does meanwhile is not lost: though
/// edge-triggered epoll reported it while the socket was parked, taking the socket up again
/// hands it over, under the same token.
#[test]
fn a_parked_socket_keeps_the_loop_from_nothing_and_hands_over_what_came_meanwhile() {
    let mut lp = EventLoop::new().unwrap();
    let (mut ours, mut theirs) = UnixStream::pair().unwrap();
    let captured = Rc::new(());
    let calls = Rc::new(RefCell::new(Vec::new()));
    let token = {
        let (captured, calls) = (Rc::clone(&captured), Rc::clone(&calls));
        lp.register(&mut ours, Interest::READABLE, move |_, _| {
            let _ = &captured;
            calls.borrow_mut().push("before");
        })
        .unwrap()
    };
    let parked = lp.park(token, ours, Ready::default());
    assert_eq!(Rc::strong_count(&captured), 1, "the callback is dropped");
    assert_eq!(lp.sources(), 0);
    // Readable while parked: the kernel reports it, the loop keeps it.
    theirs.write_all(b"x").unwrap();
    lp.call_later(Duration::from_millis(30), |_| {});
    lp.run().unwrap(); // returns: the parked socket is nothing to wait for
    assert!(calls.borrow().is_empty());

    let (ours, again, seen) = lp
        .unpark(parked, {
            let calls = Rc::clone(&calls);
            move |lp, _| {
                calls.borrow_mut().push("after");
                lp.stop();
            }
        })
        .unwrap();
    assert_eq!(again, token, "no new token: the kernel was told nothing");
    assert!(seen.readable && !seen.writable, "{seen:?}");
    assert_eq!(lp.sources(), 1);
    // Nothing new from the peer: no edge, no callback (the byte is for its new user to read).
    lp.call_later(Duration::from_millis(30), EventLoop::stop);
    lp.run().unwrap();
    assert!(calls.borrow().is_empty());
    // Something new: reported as for any registered socket.
    theirs.write_all(b"y").unwrap();
    let fallback = lp.call_later(Duration::from_secs(2), EventLoop::stop);
    lp.run().unwrap();
    lp.cancel(fallback);
    assert_eq!(*calls.borrow(), ["after"]);

    // Parked again, after a callback woken by the peer's close: the close is handed over.
    drop(theirs);
    let parked = lp.park(
        token,
        ours,
        Ready {
            readable: true,
            read_closed: true,
            ..Ready::default()
        },
    );
    let (ours, _, seen) = lp.unpark(parked, |_, _| {}).unwrap();
    assert!(seen.read_closed && !seen.readable, "{seen:?}");
    // Dropped while parked: the socket is closed, and its entry goes at the next turn.
    drop(lp.park(token, ours, Ready::default()));
    assert_eq!(lp.reactor.entries(), 1);
    lp.run().unwrap(); // returns at once: nothing to wait for
    assert_eq!(lp.reactor.entries(), 0);
}
