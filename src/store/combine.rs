//! Group commit. On Postgres a write holds its workspace's row lock until its commit is on disk,
//! so one workspace's writes, taken one at a time, cannot pass one commit each: the lock, not
//! the machine, would set the rate. And every commit is a flush to disk, on either database.
//! Writes that arrive while a group is committing wait here instead, and the next transaction
//! takes all of them: one commit for the group, every write answered as if it had run alone.
//!
//! With nothing in flight the first write starts the committer at once, so a lone write waits
//! for nobody. The committer is a task of its own: a caller that goes away (a client that hung
//! up) does not cut a group in half, and a committer that fails hands its callers an error
//! instead of leaving them waiting.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

type Queue<I, O> = Vec<(I, oneshot::Sender<O>)>;

pub struct Combiner<I, O> {
    /// The writes waiting; `None` while no committer runs.
    waiting: Arc<Mutex<Option<Queue<I, O>>>>,
    /// The most writes one transaction takes: it bounds how long its locks are held.
    most: usize,
}

impl<I, O> Combiner<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    pub fn new(most: usize) -> Self {
        Combiner {
            waiting: Arc::default(),
            most: most.max(1),
        }
    }

    /// Queues `item` for the next group and waits for its answer. `commit` runs one group and
    /// answers each write, in order; groups run one at a time. `None` when the committer failed
    /// before answering.
    pub async fn submit<F, Fut>(&self, item: I, commit: F) -> Option<O>
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut waiting = lock(&self.waiting);
            match waiting.as_mut() {
                Some(queue) => {
                    queue.push((item, answer));
                    false
                }
                None => {
                    *waiting = Some(vec![(item, answer)]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(run(self.waiting.clone(), self.most, commit));
        }
        answered.await.ok()
    }
}

/// The committer: group after group until nothing waits, then it leaves.
async fn run<I, O, F, Fut>(waiting: Arc<Mutex<Option<Queue<I, O>>>>, most: usize, commit: F)
where
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Vec<O>>,
{
    let mut guard = Leaving {
        waiting: &waiting,
        done: false,
    };
    loop {
        let group: Vec<_> = {
            let mut all = lock(&waiting);
            let queue = all
                .as_mut()
                .expect("a running committer's queue is present");
            if queue.is_empty() {
                *all = None;
                guard.done = true;
                return;
            }
            let n = queue.len().min(most);
            queue.drain(..n).collect()
        };
        let (items, answers): (Vec<I>, Vec<_>) = group.into_iter().unzip();
        for (answer, result) in answers.into_iter().zip(commit(items).await) {
            let _ = answer.send(result);
        }
    }
}

/// Empties the queue if the committer ends any other way than by finding nothing to do (a
/// panic): the writes still waiting get `None` rather than waiting forever, and the next write
/// starts a new committer.
struct Leaving<'a, I, O> {
    waiting: &'a Mutex<Option<Queue<I, O>>>,
    done: bool,
}

impl<I, O> Drop for Leaving<'_, I, O> {
    fn drop(&mut self) {
        if !self.done {
            *lock(self.waiting) = None;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn a_lone_write_is_committed_alone() {
        let combiner = Combiner::<u32, u32>::new(8);
        let got = combiner
            .submit(20, |items| async move {
                assert_eq!(items, vec![20]);
                items.into_iter().map(|i| i + 1).collect()
            })
            .await;
        assert_eq!(got, Some(21));
    }

    /// While one group commits, the writes that arrive wait and go together into the next,
    /// each answered with its own result, at most `most` at a time.
    #[tokio::test]
    async fn writes_arriving_during_a_commit_go_into_the_next_group() {
        let combiner = Arc::new(Combiner::<u32, u32>::new(4));
        let gate = Arc::new(Semaphore::new(0));
        let groups = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let commit = {
            let (gate, groups) = (gate.clone(), groups.clone());
            move |items: Vec<u32>| {
                let (gate, groups) = (gate.clone(), groups.clone());
                async move {
                    groups.lock().unwrap().push(items.clone());
                    gate.acquire().await.unwrap().forget();
                    items.into_iter().map(|i| i * 10).collect()
                }
            }
        };
        let mut calls = Vec::new();
        for i in 0..7u32 {
            let (combiner, commit) = (combiner.clone(), commit.clone());
            calls.push(tokio::spawn(
                async move { combiner.submit(i, commit).await },
            ));
            // The first write is in its commit before the others arrive.
            while i == 0 && groups.lock().unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
        }
        while lock(&combiner.waiting).as_ref().map_or(0, Vec::len) < 6 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(3);
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        assert_eq!(answers, (0..7).map(|i| Some(i * 10)).collect::<Vec<_>>());
        let groups = groups.lock().unwrap().clone();
        assert_eq!(groups, vec![vec![0], vec![1, 2, 3, 4], vec![5, 6]]);
        assert!(
            lock(&combiner.waiting).is_none(),
            "no committer left behind"
        );
    }

    #[tokio::test]
    async fn a_failed_committer_answers_none_and_the_next_write_starts_afresh() {
        let combiner = Combiner::<u32, u32>::new(8);
        let runs = Arc::new(AtomicUsize::new(0));
        let commit = {
            let runs = runs.clone();
            move |items: Vec<u32>| {
                let runs = runs.clone();
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("the first commit fails");
                    }
                    items
                }
            }
        };
        assert_eq!(combiner.submit(5, commit.clone()).await, None);
        assert_eq!(combiner.submit(6, commit).await, Some(6));
        assert!(lock(&combiner.waiting).is_none());
    }
}
