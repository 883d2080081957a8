//! The machinery on its own: futures, tasks and `yield from`, with timers standing in for I/O.

use std::{cell::RefCell, mem, rc::Rc, time::Duration};

use c10k_eventloop::EventLoop;

use crate::{Coroutine, Future, Step, Task, yield_from};

/// A future resolved with `value` by a timer, `ms` from now.
fn later<T: Clone + 'static>(lp: &mut EventLoop, ms: u64, value: T) -> Future<T> {
    let future = Future::new();
    let resolver = future.clone();
    lp.call_later(Duration::from_millis(ms), move |lp| {
        resolver.set_result(lp, value);
    });
    future
}

/// ```text
/// fn sum_of_three():
///     a = yield later(30, 1)
///     b = yield later(10, 2)
///     c = yield later(20, 3)
///     return a + b + c
/// ```
enum SumOfThree {
    Start,
    AwaitA,
    AwaitB { a: u32 },
    AwaitC { a: u32, b: u32 },
    Done,
}

impl Coroutine for SumOfThree {
    type Input = u32;
    type Output = u32;

    fn resume(&mut self, lp: &mut EventLoop, input: u32) -> Step<u32, u32> {
        match mem::replace(self, SumOfThree::Done) {
            SumOfThree::Start => {
                *self = SumOfThree::AwaitA;
                Step::Yielded(later(lp, 30, 1))
            }
            SumOfThree::AwaitA => {
                *self = SumOfThree::AwaitB { a: input };
                Step::Yielded(later(lp, 10, 2))
            }
            SumOfThree::AwaitB { a } => {
                *self = SumOfThree::AwaitC { a, b: input };
                Step::Yielded(later(lp, 20, 3))
            }
            SumOfThree::AwaitC { a, b } => Step::Complete(a + b + input),
            SumOfThree::Done => panic!("resumed after completion"),
        }
    }
}

#[test]
fn a_coroutine_that_yields_three_futures_completes_with_their_sum() {
    let mut lp = EventLoop::new().unwrap();
    let result = Task::spawn(&mut lp, SumOfThree::Start);
    assert!(!result.is_done(), "a task only starts when the loop runs");
    lp.run().unwrap();
    assert_eq!(result.result(), Some(6));
}

#[test]
fn tasks_interleave_on_one_loop() {
    let mut lp = EventLoop::new().unwrap();
    let results: Vec<_> = (0..100)
        .map(|_| Task::spawn(&mut lp, SumOfThree::Start))
        .collect();
    lp.run().unwrap();
    assert!(results.iter().all(|r| r.result() == Some(6)));
}

/// ```text
/// fn parse_twice(inputs) -> Result<u32, String>:
///     x = (yield inputs[0])?       # each future resolves to a Result<u32, String>
///     y = (yield inputs[1])?
///     return Ok(x + y)
/// ```
///
/// Inputs are `Option`s because the first resume carries no result: Python sends `None`.
struct ParseTwice {
    delays: Vec<(u64, Result<u32, String>)>,
    state: ParseState,
}

enum ParseState {
    Start,
    AwaitX,
    AwaitY { x: u32 },
    Done,
}

type Value = Result<u32, String>;

impl Coroutine for ParseTwice {
    type Input = Option<Value>;
    type Output = Value;

    fn resume(&mut self, lp: &mut EventLoop, input: Option<Value>) -> Step<Option<Value>, Value> {
        let next = |this: &mut Self, lp: &mut EventLoop| {
            let (ms, value) = this.delays.remove(0);
            Step::Yielded(later(lp, ms, Some(value)))
        };
        let input = input.unwrap_or(Ok(0));
        match mem::replace(&mut self.state, ParseState::Done) {
            ParseState::Start => {
                self.state = ParseState::AwaitX;
                next(self, lp)
            }
            ParseState::AwaitX => match input {
                Ok(x) => {
                    self.state = ParseState::AwaitY { x };
                    next(self, lp)
                }
                Err(err) => Step::Complete(Err(err)),
            },
            ParseState::AwaitY { x } => Step::Complete(input.map(|y| x + y)),
            ParseState::Done => panic!("resumed after completion"),
        }
    }
}

/// ```text
/// fn outer(inner) -> Result<u32, String>:
///     value = yield from inner
///     return value.map(|v| v * 10)
/// ```
struct Outer {
    inner: ParseTwice,
}

impl Coroutine for Outer {
    type Input = Option<Value>;
    type Output = Value;

    fn resume(&mut self, lp: &mut EventLoop, input: Option<Value>) -> Step<Option<Value>, Value> {
        let value = yield_from!(self.inner.resume(lp, input));
        Step::Complete(value.map(|v| v * 10))
    }
}

fn run_outer(delays: Vec<(u64, Value)>) -> Option<Value> {
    let mut lp = EventLoop::new().unwrap();
    let outer = Outer {
        inner: ParseTwice {
            delays,
            state: ParseState::Start,
        },
    };
    let result = Task::spawn(&mut lp, outer);
    lp.run().unwrap();
    result.result()
}

#[test]
fn yield_from_passes_values_through() {
    assert_eq!(run_outer(vec![(5, Ok(4)), (1, Ok(3))]), Some(Ok(70)));
}

#[test]
fn yield_from_passes_errors_through() {
    assert_eq!(
        run_outer(vec![(5, Ok(4)), (1, Err("bad y".into()))]),
        Some(Err("bad y".into()))
    );
}

#[test]
fn a_task_whose_future_fails_sees_the_error() {
    let mut lp = EventLoop::new().unwrap();
    let coro = ParseTwice {
        delays: vec![(1, Err("connection refused".into())), (1, Ok(1))],
        state: ParseState::Start,
    };
    let result = Task::spawn(&mut lp, coro);
    lp.run().unwrap();
    assert_eq!(result.result(), Some(Err("connection refused".into())));
}

#[test]
fn only_the_first_result_counts_and_callbacks_run_on_the_loop() {
    let mut lp = EventLoop::new().unwrap();
    let future = Future::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    for n in 0..2 {
        let seen = Rc::clone(&seen);
        future.add_done_callback(&mut lp, move |_, f: &Future<&str>| {
            seen.borrow_mut().push((n, f.result()))
        });
    }
    assert!(future.set_result(&mut lp, "first"));
    assert!(!future.set_result(&mut lp, "second"));
    assert!(
        seen.borrow().is_empty(),
        "callbacks are scheduled, not called from set_result"
    );
    lp.run().unwrap();
    assert_eq!(*seen.borrow(), [(0, Some("first")), (1, Some("first"))]);
}

// The exercises of GUIDE.md, with the solutions given there: each passes its test.

/// Exercise: the lecture's `cuenta_regresiva` as a `Coroutine` enum. Where the Python
/// generator yields each number to a `for` loop, this coroutine logs it (the `print`) and
/// yields a future, so that several countdowns on one loop take turns as the lecture's three
/// `io()` coroutines do (`1 1 1 2 2 2 3 3 3`).
///
/// ```text
/// fn countdown(name, n, log):
///     while n > 0:
///         log.push(name + n)       # print(numero)
///         yield later(10, ())      # let the others run
///         n -= 1
/// ```
enum Countdown {
    Counting {
        name: char,
        n: u32,
        log: Rc<RefCell<Vec<String>>>,
    },
    Done,
}

impl Coroutine for Countdown {
    type Input = ();
    type Output = ();

    fn resume(&mut self, lp: &mut EventLoop, _input: ()) -> Step<(), ()> {
        let Countdown::Counting { name, n, log } = mem::replace(self, Countdown::Done) else {
            panic!("resumed after completion");
        };
        if n == 0 {
            return Step::Complete(());
        }
        log.borrow_mut().push(format!("{name}{n}"));
        *self = Countdown::Counting {
            name,
            n: n - 1,
            log,
        };
        Step::Yielded(later(lp, 10, ()))
    }
}

#[test]
fn exercise_countdowns_take_turns_on_one_loop() {
    let mut lp = EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for name in ['a', 'b', 'c'] {
        let log = Rc::clone(&log);
        Task::spawn(&mut lp, Countdown::Counting { name, n: 3, log });
    }
    lp.run().unwrap();
    assert_eq!(
        *log.borrow(),
        ["a3", "b3", "c3", "a2", "b2", "c2", "a1", "b1", "c1"]
    );
}

/// Exercise: one more state in `SumOfThree` — a fourth value, awaited after the third.
///
/// ```text
/// fn sum_of_four():
///     a = yield later(30, 1)
///     b = yield later(10, 2)
///     c = yield later(20, 3)
///     d = yield later(5, 4)        # the new suspension point: a new variant, holding a, b, c
///     return a + b + c + d
/// ```
enum SumOfFour {
    Start,
    AwaitA,
    AwaitB { a: u32 },
    AwaitC { a: u32, b: u32 },
    AwaitD { a: u32, b: u32, c: u32 },
    Done,
}

impl Coroutine for SumOfFour {
    type Input = u32;
    type Output = u32;

    fn resume(&mut self, lp: &mut EventLoop, input: u32) -> Step<u32, u32> {
        let (next, delay, value) = match mem::replace(self, SumOfFour::Done) {
            SumOfFour::Start => (SumOfFour::AwaitA, 30, 1),
            SumOfFour::AwaitA => (SumOfFour::AwaitB { a: input }, 10, 2),
            SumOfFour::AwaitB { a } => (SumOfFour::AwaitC { a, b: input }, 20, 3),
            SumOfFour::AwaitC { a, b } => (SumOfFour::AwaitD { a, b, c: input }, 5, 4),
            SumOfFour::AwaitD { a, b, c } => return Step::Complete(a + b + c + input),
            SumOfFour::Done => panic!("resumed after completion"),
        };
        *self = next;
        Step::Yielded(later(lp, delay, value))
    }
}

#[test]
fn exercise_a_fourth_state_adds_a_fourth_value() {
    let mut lp = EventLoop::new().unwrap();
    let result = Task::spawn(&mut lp, SumOfFour::Start);
    lp.run().unwrap();
    assert_eq!(result.result(), Some(10));
}
