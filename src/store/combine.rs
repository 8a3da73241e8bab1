//! Group commit for one workspace's writes. On Postgres a write holds its workspace's row lock
//! until its commit is on disk, so one workspace's writes, one at a time, cannot pass one commit
//! each: the lock, not the machine, would set the rate. Writes that arrive while another of the
//! same workspace is committing wait here instead, and the next transaction takes all of them:
//! one lock, one commit, every write answered as if it had run alone.
//!
//! A workspace with nothing in flight starts its committer at once, so a lone write waits for
//! nobody. The committer is a task of its own: a caller that goes away (a client that hung up)
//! does not cut a batch in half, and a committer that fails hands its callers an error instead
//! of leaving them waiting.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

type Waiting<K, I, O> = HashMap<K, Vec<(I, oneshot::Sender<O>)>>;

pub struct Combiner<K, I, O> {
    /// The writes waiting per key; a key is present while its committer runs.
    waiting: Arc<Mutex<Waiting<K, I, O>>>,
    /// The most writes one transaction takes: it bounds how long the lock is held.
    most: usize,
}

impl<K, I, O> Combiner<K, I, O>
where
    K: Hash + Eq + Copy + Send + 'static,
    I: Send + 'static,
    O: Send + 'static,
{
    pub fn new(most: usize) -> Self {
        Combiner {
            waiting: Arc::default(),
            most: most.max(1),
        }
    }

    /// Queues `item` for `key`'s next batch and waits for its answer. `commit` runs one batch
    /// and answers each write, in order; it runs for the key's writes one batch at a time.
    /// `None` when the committer failed before answering.
    pub async fn submit<F, Fut>(&self, key: K, item: I, commit: F) -> Option<O>
    where
        F: Fn(K, Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut waiting = lock(&self.waiting);
            match waiting.get_mut(&key) {
                Some(queue) => {
                    queue.push((item, answer));
                    false
                }
                None => {
                    waiting.insert(key, vec![(item, answer)]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(run(self.waiting.clone(), key, self.most, commit));
        }
        answered.await.ok()
    }
}

/// The committer of one key: batch after batch until nothing waits, then it leaves.
async fn run<K, I, O, F, Fut>(waiting: Arc<Mutex<Waiting<K, I, O>>>, key: K, most: usize, commit: F)
where
    K: Hash + Eq + Copy,
    F: Fn(K, Vec<I>) -> Fut,
    Fut: Future<Output = Vec<O>>,
{
    let mut guard = Leaving {
        waiting: &waiting,
        key,
        done: false,
    };
    loop {
        let batch: Vec<_> = {
            let mut all = lock(&waiting);
            let queue = all
                .get_mut(&key)
                .expect("a running committer's key is present");
            if queue.is_empty() {
                all.remove(&key);
                guard.done = true;
                return;
            }
            let n = queue.len().min(most);
            queue.drain(..n).collect()
        };
        let (items, answers): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
        for (answer, result) in answers.into_iter().zip(commit(key, items).await) {
            let _ = answer.send(result);
        }
    }
}

/// Takes the key out if its committer ends any other way than by finding nothing to do (a
/// panic): the writes still waiting get `None` rather than waiting forever, and the next write
/// starts a new committer.
struct Leaving<'a, K: Hash + Eq, I, O> {
    waiting: &'a Mutex<Waiting<K, I, O>>,
    key: K,
    done: bool,
}

impl<K: Hash + Eq, I, O> Drop for Leaving<'_, K, I, O> {
    fn drop(&mut self) {
        if !self.done {
            lock(self.waiting).remove(&self.key);
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
        let combiner = Combiner::<u8, u32, u32>::new(8);
        let got = combiner
            .submit(1, 20, |_, items| async move {
                assert_eq!(items, vec![20]);
                items.into_iter().map(|i| i + 1).collect()
            })
            .await;
        assert_eq!(got, Some(21));
    }

    /// While one batch commits, the writes that arrive wait and go together into the next, each
    /// answered with its own result, at most `most` at a time; another key is not held up.
    #[tokio::test]
    async fn writes_arriving_during_a_commit_go_into_the_next_batch() {
        let combiner = Arc::new(Combiner::<u8, u32, u32>::new(4));
        let gate = Arc::new(Semaphore::new(0));
        let batches = Arc::new(Mutex::new(Vec::<(u8, Vec<u32>)>::new()));
        let commit = {
            let (gate, batches) = (gate.clone(), batches.clone());
            move |key: u8, items: Vec<u32>| {
                let (gate, batches) = (gate.clone(), batches.clone());
                async move {
                    batches.lock().unwrap().push((key, items.clone()));
                    if key == 1 {
                        gate.acquire().await.unwrap().forget();
                    }
                    items.into_iter().map(|i| i * 10).collect()
                }
            }
        };
        let mut calls = Vec::new();
        for i in 0..7u32 {
            let (combiner, commit) = (combiner.clone(), commit.clone());
            calls.push(tokio::spawn(
                async move { combiner.submit(1, i, commit).await },
            ));
            // The first write is in its commit before the others arrive.
            while i == 0 && batches.lock().unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
        }
        // Another workspace commits while the first one's batch is stuck.
        assert_eq!(
            combiner.submit(2, 99, commit.clone()).await,
            Some(990),
            "another key waits for nobody"
        );
        while lock(&combiner.waiting).get(&1).map_or(0, Vec::len) < 6 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(3);
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        assert_eq!(answers, (0..7).map(|i| Some(i * 10)).collect::<Vec<_>>());
        let batches = batches.lock().unwrap().clone();
        let ones: Vec<Vec<u32>> = batches
            .into_iter()
            .filter(|(k, _)| *k == 1)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(ones, vec![vec![0], vec![1, 2, 3, 4], vec![5, 6]]);
        assert!(
            lock(&combiner.waiting).is_empty(),
            "no committer left behind"
        );
    }

    #[tokio::test]
    async fn a_failed_committer_answers_none_and_the_next_write_starts_afresh() {
        let combiner = Combiner::<u8, u32, u32>::new(8);
        let runs = Arc::new(AtomicUsize::new(0));
        let commit = {
            let runs = runs.clone();
            move |_: u8, items: Vec<u32>| {
                let runs = runs.clone();
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("the first commit fails");
                    }
                    items
                }
            }
        };
        assert_eq!(combiner.submit(1, 5, commit.clone()).await, None);
        assert_eq!(combiner.submit(1, 6, commit).await, Some(6));
        assert!(lock(&combiner.waiting).is_empty());
    }
}
