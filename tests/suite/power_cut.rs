//! A power cut, simulated. The server runs in a process of its own whose SQLite files go through
//! a VFS that keeps every write in memory (the process's own "page cache") until SQLite syncs
//! that file, and only then writes it to the real file. Killing that process loses exactly what
//! a power cut would: everything written since the last sync. A server started afterwards, on
//! the ordinary VFS, then finds what was on "disk".
//!
//! This is how SQLite's own crash tests model a power cut, simplified (a sync writes a file's
//! pending writes whole; a real disk may tear a sector). It tests what Baton decides, that an
//! answer waits for a synced commit, not whether this machine's disk honours a flush.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::common::{Db, Process, TestDb};
use crate::crash::{missing_writes, set_up_team, write_until_killed};

const URL_VAR: &str = "BATON_POWER_CUT_DATABASE";
const SYNC_VAR: &str = "BATON_POWER_CUT_SYNCHRONOUS";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_synchronous_full_a_power_cut_loses_no_answered_write() {
    let (checked, missing) = write_then_cut_the_power("full").await;
    assert!(
        missing.is_empty(),
        "{} of {checked} answered writes are missing after the power cut:\n{}",
        missing.len(),
        missing.join("\n")
    );
    println!("synchronous full: all {checked} answered writes are there after the power cut");
}

/// The simulation has teeth: with `normal`, answered writes since the last checkpoint are only
/// in the cache. A checkpoint can land right on the last answer, so this tries up to 3 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_synchronous_normal_a_power_cut_loses_answered_writes() {
    for attempt in 1..=3 {
        let (checked, missing) = write_then_cut_the_power("normal").await;
        println!(
            "synchronous normal, attempt {attempt}: {} of {checked} answered writes lost",
            missing.len()
        );
        if !missing.is_empty() {
            return;
        }
    }
    panic!(
        "three power cuts under synchronous = normal lost nothing: the simulation shows nothing"
    );
}

/// The server of the tests above, in a process of its own: started by them with the test
/// binary, `--ignored` and this test's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server process of the power-cut tests, which start it themselves"]
async fn server_on_a_cache_that_a_power_cut_empties() {
    use std::io::Write;
    let url = std::env::var(URL_VAR).expect("started by a power-cut test");
    let synchronous = match std::env::var(SYNC_VAR).as_deref() {
        Ok("normal") => baton::config::SqliteSynchronous::Normal,
        _ => baton::config::SqliteSynchronous::Full,
    };
    vfs::register();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = baton::Config {
        listen: listener.local_addr().unwrap(),
        database_url: format!("{url}?vfs={}", vfs::NAME),
        data_dir: tempfile::tempdir().unwrap().keep(),
        sqlite_synchronous: synchronous,
        ..baton::Config::default()
    };
    let _ = writeln!(std::io::stdout(), "listening on {}", config.listen);
    baton::serve(config, listener, std::future::pending())
        .await
        .unwrap();
}

/// The child process running `server_on_a_cache_that_a_power_cut_empties`.
struct CachedServer {
    child: std::process::Child,
    url: String,
}

impl CachedServer {
    fn start(db_url: &str, synchronous: &str) -> CachedServer {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "power_cut::server_on_a_cache_that_a_power_cut_empties",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(URL_VAR, db_url)
            .env(SYNC_VAR, synchronous)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut addr = None;
        let mut line = String::new();
        while addr.is_none() && stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            addr = line
                .trim()
                .strip_prefix("listening on ")
                .map(str::to_string);
            line.clear();
        }
        let addr = addr.expect("the server process says where it listens");
        // Keep reading, so that the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        CachedServer {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// The power cut: SIGKILL, and the writes SQLite had not synced die with the process.
    fn cut_the_power(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CachedServer {
    fn drop(&mut self) {
        self.cut_the_power();
    }
}

async fn write_then_cut_the_power(synchronous: &str) -> (usize, Vec<String>) {
    let db = TestDb::new(Db::Sqlite).await;
    // The accounts are made by an ordinary server that stops cleanly: they are on disk.
    let mut setup = Process::start(&db.url, None, "setup").await;
    let team = set_up_team(&setup.as_app(Db::Sqlite)).await;
    assert!(setup.terminate().success());

    let mut server = CachedServer::start(&db.url, synchronous);
    wait_until_healthy(&server.url).await;
    let url = server.url.clone();
    let stories = write_until_killed(&url, &team, || server.cut_the_power()).await;

    let after = Process::start(&db.url, None, "after").await;
    missing_writes(&after.url, &team.token, &stories).await
}

async fn wait_until_healthy(url: &str) {
    for _ in 0..400 {
        if reqwest::get(format!("{url}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server at {url} never became healthy");
}

/// The VFS: SQLite's own `unix` VFS underneath, with a write cache per file path that only
/// `xSync` empties into the real file.
mod vfs {
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::collections::{BTreeMap, HashMap};
    use std::ffi::{c_char, c_int, c_void, CStr};
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::{Arc, LazyLock, Mutex, Once};

    use libsqlite3_sys as ffi;

    pub const NAME: &str = "power-cut";
    const NAME_C: &CStr = c"power-cut";
    const SECTOR: u64 = 512;

    /// What a file's "disk" does not have yet: whole sectors written since the last sync, and
    /// the size the file has for its readers.
    struct Cache {
        sectors: BTreeMap<u64, Vec<u8>>,
        size: u64,
    }

    /// Shared by every handle on one path, like the kernel's page cache.
    static CACHES: LazyLock<Mutex<HashMap<String, Arc<Mutex<Cache>>>>> =
        LazyLock::new(Default::default);

    /// One open file: SQLite's `sqlite3_file` first, then the `unix` VFS's own handle.
    #[repr(C)]
    struct File {
        base: ffi::sqlite3_file,
        real: *mut ffi::sqlite3_file,
        /// Null for files SQLite opens without a name (temporary files): no cache.
        cache: *const Mutex<Cache>,
    }

    /// SQLite's `unix` VFS, found once by `register`.
    static UNIX_VFS: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(std::ptr::null_mut());
    static REGISTER: Once = Once::new();

    fn unix() -> *mut ffi::sqlite3_vfs {
        UNIX_VFS.load(Ordering::Acquire)
    }

    pub fn register() {
        REGISTER.call_once(|| unsafe {
            let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
            assert!(!unix.is_null(), "SQLite has its unix VFS");
            UNIX_VFS.store(unix, Ordering::Release);
            // Everything but opening, deleting and the existence check is the unix VFS's.
            let mut vfs = *unix;
            vfs.zName = NAME_C.as_ptr();
            vfs.szOsFile = std::mem::size_of::<File>() as c_int;
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            vfs.xDelete = Some(delete);
            vfs.xAccess = Some(access);
            let vfs = Box::leak(Box::new(vfs));
            assert_eq!(ffi::sqlite3_vfs_register(vfs, 0), ffi::SQLITE_OK);
        });
    }

    fn real_layout() -> Layout {
        // SAFETY: set in `register`, before SQLite can open a file through this VFS.
        let size = unsafe { (*unix()).szOsFile } as usize;
        Layout::from_size_align(size.max(8), 16).unwrap()
    }

    unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
        (*(file as *mut File)).real
    }

    unsafe fn methods(real: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
        &*(*real).pMethods
    }

    unsafe fn cache<'a>(file: *mut ffi::sqlite3_file) -> Option<&'a Mutex<Cache>> {
        (*(file as *mut File)).cache.as_ref()
    }

    unsafe fn real_size(real: *mut ffi::sqlite3_file) -> u64 {
        let mut size: ffi::sqlite3_int64 = 0;
        (methods(real).xFileSize.unwrap())(real, &mut size);
        size as u64
    }

    /// The file's content at `[offset, offset + out.len())` as its readers see it.
    unsafe fn read_through(
        real: *mut ffi::sqlite3_file,
        cache: &Cache,
        out: &mut [u8],
        offset: u64,
    ) -> c_int {
        let rc = (methods(real).xRead.unwrap())(
            real,
            out.as_mut_ptr() as *mut c_void,
            out.len() as c_int,
            offset as i64,
        );
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_IOERR_SHORT_READ {
            return rc;
        }
        let end = offset + out.len() as u64;
        for (&index, sector) in cache.sectors.range(offset / SECTOR..end.div_ceil(SECTOR)) {
            let start = index * SECTOR;
            let from = start.max(offset);
            let to = (start + SECTOR).min(end);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&sector[(from - start) as usize..(to - start) as usize]);
        }
        if end > cache.size {
            let keep = cache.size.saturating_sub(offset) as usize;
            out[keep..].fill(0);
            return ffi::SQLITE_IOERR_SHORT_READ;
        }
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn open(
        _vfs: *mut ffi::sqlite3_vfs,
        name: ffi::sqlite3_filename,
        file: *mut ffi::sqlite3_file,
        flags: c_int,
        out_flags: *mut c_int,
    ) -> c_int {
        let file = file as *mut File;
        (*file).base.pMethods = std::ptr::null();
        let real = alloc_zeroed(real_layout()) as *mut ffi::sqlite3_file;
        let rc = ((*unix()).xOpen.unwrap())(unix(), name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            dealloc(real as *mut u8, real_layout());
            return rc;
        }
        let cache = if name.is_null() {
            std::ptr::null()
        } else {
            let path = CStr::from_ptr(name).to_string_lossy().into_owned();
            let mut caches = CACHES.lock().unwrap();
            let cache = caches.entry(path).or_insert_with(|| {
                Arc::new(Mutex::new(Cache {
                    sectors: BTreeMap::new(),
                    size: real_size(real),
                }))
            });
            Arc::into_raw(cache.clone())
        };
        (*file).real = real;
        (*file).cache = cache;
        (*file).base.pMethods = &METHODS;
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn delete(
        _vfs: *mut ffi::sqlite3_vfs,
        name: *const c_char,
        sync_dir: c_int,
    ) -> c_int {
        CACHES
            .lock()
            .unwrap()
            .remove(&*CStr::from_ptr(name).to_string_lossy());
        ((*unix()).xDelete.unwrap())(unix(), name, sync_dir)
    }

    /// The unix VFS calls an empty file absent; one whose content is all in the cache is not.
    unsafe extern "C" fn access(
        _vfs: *mut ffi::sqlite3_vfs,
        name: *const c_char,
        flags: c_int,
        out: *mut c_int,
    ) -> c_int {
        let rc = ((*unix()).xAccess.unwrap())(unix(), name, flags, out);
        if rc == ffi::SQLITE_OK && *out == 0 && flags == ffi::SQLITE_ACCESS_EXISTS {
            let caches = CACHES.lock().unwrap();
            if let Some(cache) = caches.get(&*CStr::from_ptr(name).to_string_lossy()) {
                *out = (cache.lock().unwrap().size > 0) as c_int;
            }
        }
        rc
    }

    unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
        let real = real(file);
        let rc = (methods(real).xClose.unwrap())(real);
        dealloc(real as *mut u8, real_layout());
        let cache = (*(file as *mut File)).cache;
        if !cache.is_null() {
            // The cache outlives the handle, as a page cache outlives a closed file.
            drop(Arc::from_raw(cache));
        }
        rc
    }

    unsafe extern "C" fn read(
        file: *mut ffi::sqlite3_file,
        buf: *mut c_void,
        amount: c_int,
        offset: ffi::sqlite3_int64,
    ) -> c_int {
        let real = real(file);
        let Some(cache) = cache(file) else {
            return (methods(real).xRead.unwrap())(real, buf, amount, offset);
        };
        let out = std::slice::from_raw_parts_mut(buf as *mut u8, amount as usize);
        read_through(real, &cache.lock().unwrap(), out, offset as u64)
    }

    unsafe extern "C" fn write(
        file: *mut ffi::sqlite3_file,
        buf: *const c_void,
        amount: c_int,
        offset: ffi::sqlite3_int64,
    ) -> c_int {
        let real = real(file);
        let Some(cache) = cache(file) else {
            return (methods(real).xWrite.unwrap())(real, buf, amount, offset);
        };
        let data = std::slice::from_raw_parts(buf as *const u8, amount as usize);
        let (offset, end) = (offset as u64, offset as u64 + amount as u64);
        let mut cache = cache.lock().unwrap();
        for index in offset / SECTOR..end.div_ceil(SECTOR) {
            let start = index * SECTOR;
            if !cache.sectors.contains_key(&index) {
                let mut sector = vec![0u8; SECTOR as usize];
                let rc = read_through(real, &cache, &mut sector, start);
                if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_IOERR_SHORT_READ {
                    return rc;
                }
                cache.sectors.insert(index, sector);
            }
            let sector = cache.sectors.get_mut(&index).unwrap();
            let from = start.max(offset);
            let to = (start + SECTOR).min(end);
            sector[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        }
        cache.size = cache.size.max(end);
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
        let real = real(file);
        let Some(cache) = cache(file) else {
            return (methods(real).xTruncate.unwrap())(real, size);
        };
        let size = size as u64;
        let mut cache = cache.lock().unwrap();
        cache.sectors.retain(|&index, _| index * SECTOR < size);
        if let Some(last) = cache.sectors.get_mut(&(size / SECTOR)) {
            last[(size % SECTOR) as usize..].fill(0);
        }
        cache.size = size;
        ffi::SQLITE_OK
    }

    /// What a power cut spares: the file's cached writes go to the real file, which is synced.
    unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
        let real = real(file);
        if let Some(cache) = cache(file) {
            let mut cache = cache.lock().unwrap();
            let m = methods(real);
            if real_size(real) > cache.size {
                let rc = (m.xTruncate.unwrap())(real, cache.size as i64);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            for (&index, sector) in &cache.sectors {
                let start = index * SECTOR;
                let len = SECTOR.min(cache.size.saturating_sub(start));
                if len == 0 {
                    continue;
                }
                let rc = (m.xWrite.unwrap())(
                    real,
                    sector.as_ptr() as *const c_void,
                    len as c_int,
                    start as i64,
                );
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            if real_size(real) < cache.size {
                let rc = (m.xTruncate.unwrap())(real, cache.size as i64);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            cache.sectors.clear();
        }
        (methods(real).xSync.unwrap())(real, flags)
    }

    unsafe extern "C" fn file_size(
        file: *mut ffi::sqlite3_file,
        size: *mut ffi::sqlite3_int64,
    ) -> c_int {
        let real = real(file);
        match cache(file) {
            Some(cache) => {
                *size = cache.lock().unwrap().size as i64;
                ffi::SQLITE_OK
            }
            None => (methods(real).xFileSize.unwrap())(real, size),
        }
    }

    unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
        let real = real(file);
        (methods(real).xLock.unwrap())(real, level)
    }

    unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
        let real = real(file);
        (methods(real).xUnlock.unwrap())(real, level)
    }

    unsafe extern "C" fn check_reserved_lock(
        file: *mut ffi::sqlite3_file,
        out: *mut c_int,
    ) -> c_int {
        let real = real(file);
        (methods(real).xCheckReservedLock.unwrap())(real, out)
    }

    unsafe extern "C" fn file_control(
        file: *mut ffi::sqlite3_file,
        op: c_int,
        arg: *mut c_void,
    ) -> c_int {
        let real = real(file);
        // A size hint would grow the real file behind the cache's back; it is only a hint.
        if op == ffi::SQLITE_FCNTL_SIZE_HINT && cache(file).is_some() {
            return ffi::SQLITE_OK;
        }
        (methods(real).xFileControl.unwrap())(real, op, arg)
    }

    unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
        let real = real(file);
        (methods(real).xSectorSize.unwrap())(real)
    }

    unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
        let real = real(file);
        (methods(real).xDeviceCharacteristics.unwrap())(real)
    }

    // The wal-index (`-shm`) is shared memory, rebuilt from the WAL after a crash: the unix
    // VFS's own.
    unsafe extern "C" fn shm_map(
        file: *mut ffi::sqlite3_file,
        region: c_int,
        size: c_int,
        extend: c_int,
        out: *mut *mut c_void,
    ) -> c_int {
        let real = real(file);
        (methods(real).xShmMap.unwrap())(real, region, size, extend, out)
    }

    unsafe extern "C" fn shm_lock(
        file: *mut ffi::sqlite3_file,
        offset: c_int,
        n: c_int,
        flags: c_int,
    ) -> c_int {
        let real = real(file);
        (methods(real).xShmLock.unwrap())(real, offset, n, flags)
    }

    unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
        let real = real(file);
        (methods(real).xShmBarrier.unwrap())(real)
    }

    unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
        let real = real(file);
        (methods(real).xShmUnmap.unwrap())(real, delete)
    }

    /// Version 2: no memory-mapped reads, which would bypass the cache.
    static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
        iVersion: 2,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: Some(lock),
        xUnlock: Some(unlock),
        xCheckReservedLock: Some(check_reserved_lock),
        xFileControl: Some(file_control),
        xSectorSize: Some(sector_size),
        xDeviceCharacteristics: Some(device_characteristics),
        xShmMap: Some(shm_map),
        xShmLock: Some(shm_lock),
        xShmBarrier: Some(shm_barrier),
        xShmUnmap: Some(shm_unmap),
        xFetch: None,
        xUnfetch: None,
    };
}
