//! Commands on several containers at once (`rm`, `stop`, `kill`, `start`,
//! `restart`, `pause`, `unpause`): every request is in flight together,
//! at most [`PARALLEL`] at a time (the docker CLI's `parallelOperation`
//! allows 50), and the results are reported in the order the names were
//! given, each as soon as it and the ones before it are known, as the
//! docker CLI prints them.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Requests in flight at once (the docker CLI's `defaultParallel`).
pub(crate) const PARALLEL: usize = 50;

/// Runs `op` on every name, up to [`PARALLEL`] at once, and hands each
/// result to `report` in the order of `names`. An error from `report`
/// (stdout failed) ends it; the requests still in flight are dropped.
pub(crate) async fn in_order<T, F, Fut, R>(
    names: &[String],
    mut op: F,
    mut report: R,
) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = T>,
    R: FnMut(&str, T) -> anyhow::Result<()>,
{
    let mut queued = names.iter().enumerate();
    let mut running: Vec<(usize, Pin<Box<Fut>>)> = Vec::new();
    let mut done: Vec<Option<T>> = names.iter().map(|_| None).collect();
    let mut next = 0;
    while next < names.len() {
        while running.len() < PARALLEL {
            let Some((i, name)) = queued.next() else {
                break;
            };
            running.push((i, Box::pin(op(name.clone()))));
        }
        // Wait until at least one request is answered.
        std::future::poll_fn(|cx| {
            let mut answered = false;
            running.retain_mut(|(i, fut)| match fut.as_mut().poll(cx) {
                Poll::Ready(r) => {
                    if let Some(slot) = done.get_mut(*i) {
                        *slot = Some(r);
                    }
                    answered = true;
                    false
                }
                Poll::Pending => true,
            });
            if answered {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        while let Some(r) = done.get_mut(next).and_then(Option::take) {
            report(&names[next], r)?;
            next += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn all_in_flight_reported_in_the_order_given() {
        // The first name answers last; it is still reported first, and the
        // others were running meanwhile (the whole run takes about the
        // longest request, not the sum).
        let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let started = RefCell::new(Vec::new());
        let in_flight = RefCell::new((0usize, 0usize));
        let mut seen = Vec::new();
        block_on(in_order(
            &names,
            |name| {
                let started = &started;
                let in_flight = &in_flight;
                async move {
                    started.borrow_mut().push(name.clone());
                    {
                        let mut f = in_flight.borrow_mut();
                        f.0 += 1;
                        f.1 = f.1.max(f.0);
                    }
                    let ms = if name == "c0" { 50 } else { 1 };
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    in_flight.borrow_mut().0 -= 1;
                    name.len()
                }
            },
            |name, n| {
                seen.push((name.to_owned(), n));
                Ok(())
            },
        ))
        .unwrap();
        assert_eq!(
            seen,
            names.iter().map(|n| (n.clone(), 2)).collect::<Vec<_>>()
        );
        assert_eq!(in_flight.borrow().1, 5);
        assert_eq!(started.borrow().len(), 5);
    }

    #[test]
    fn at_most_parallel_at_once() {
        let names: Vec<String> = (0..PARALLEL * 2 + 3).map(|i| i.to_string()).collect();
        let in_flight = RefCell::new((0usize, 0usize));
        let mut count = 0;
        block_on(in_order(
            &names,
            |_| {
                let in_flight = &in_flight;
                async move {
                    {
                        let mut f = in_flight.borrow_mut();
                        f.0 += 1;
                        f.1 = f.1.max(f.0);
                    }
                    tokio::task::yield_now().await;
                    in_flight.borrow_mut().0 -= 1;
                }
            },
            |_, ()| {
                count += 1;
                Ok(())
            },
        ))
        .unwrap();
        assert_eq!(count, names.len());
        assert_eq!(in_flight.borrow().1, PARALLEL);
    }

    #[test]
    fn a_report_error_stops() {
        let names: Vec<String> = vec!["a".into(), "b".into()];
        let mut seen = 0;
        let r = block_on(in_order(
            &names,
            |_| async {},
            |_, ()| {
                seen += 1;
                Err(anyhow::anyhow!("stdout closed"))
            },
        ));
        assert!(r.is_err());
        assert_eq!(seen, 1);
    }
}
