//! Resident memory of the daemon: what it gives back once start-up is over.
//!
//! An idle raftvisord keeps few bytes of its own, but its resident set holds much more: the
//! pages of its binary and of libc that start-up touched (the config parser, the rules, the
//! cluster's start, clap…) — and, through the kernel's fault-around, their neighbours — plus
//! the freed memory glibc's malloc keeps in its arenas. Both stay mapped for the daemon's life
//! unless something reclaims them.
//!
//! [`release`] does that reclaim for the daemon's own mappings:
//! * **clean read-only file mappings** (the binary's code and read-only data, the shared
//!   libraries' code and read-only data): `madvise(MADV_DONTNEED)`. Such a mapping has no
//!   private copy of any page (no `Anonymous` kB in `/proc/self/smaps`, and it is not
//!   writable, so none can appear), so the kernel maps the pages back from the page cache on
//!   the next access, as after any reclaim: what the daemon uses again comes back (a minor
//!   fault), what only start-up used stays out. Writable mappings and any mapping with a
//!   private (copied-on-write) page — the relocated data, `.bss`, the heap — are never touched.
//! * **malloc's free memory**: `malloc_trim(0)` returns the free pages of every arena.
//! * **the unused depth of the threads' stacks** ([`release_own_stack`]): start-up runs deep
//!   call chains (the config, the store's opening, openraft's start, large futures) on the
//!   main thread, the Raft thread and the runtime's workers, and a stack keeps every page it
//!   ever touched: 0.45 MiB of an idle demo daemon was stacks, the Raft thread's 108–136 KiB
//!   and the main thread's 100 KiB. Only a thread can tell which part of its own stack is
//!   free (below its stack pointer), so [`release`] asks, and each runtime thread gives back
//!   its unused depth the next time it parks ([`on_thread_park`]), when its stack is shallow.
//!   With the main thread only waiting for the daemon (`main.rs`) and the Raft thread's start
//!   future on the heap (`daemon.rs`), a demo daemon's stacks went to 0.30–0.34 MiB (main
//!   20–24 KiB, Raft 72–76 KiB: what its idle work touches again).
//!
//! [`Schedule`] decides when: once start-up is over and once more a period later, then only
//! when the resident set grew (a periodic release would make an idle daemon fault its code
//! back in each time).
//!
//! Measured with `scripts/bench/idle_rss.py` (release build): one daemon with 500 programs
//! went from 12.95 to 7.96 MiB, mostly the binary's code (4.88 → 1.77 MiB) and the shared
//! libraries (2.18 → 0.86 MiB). An idle cluster daemon keeps more of its code in use (Raft
//! heartbeats, ticks, the store, HTTP both ways) and the kernel maps code back 64 KiB at a
//! time (fault-around), so less comes off there: ~5 MiB of its code stayed resident, until
//! the release build laid out the functions an idle daemon runs next to each other
//! (`build.rs`, `hot-functions.txt`); what comes back after the release is then mostly those
//! functions. Capping malloc's arenas ([`limit_arenas`]) does not shrink what is in use, but
//! each arena keeps its own free and partly used pages, so fewer of them keep less.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most malloc arenas the daemon uses: glibc's default is 8 per core, and it gives each
/// new thread that allocates an arena of its own up to that bound.
pub const ARENA_MAX: i32 = 2;

/// Caps glibc's malloc arenas at [`ARENA_MAX`]. Call it first thing in `main`, before any
/// thread exists.
///
/// Why (issue 8, idle RSS): an idle daemon has 15 threads (two runtime workers and the
/// runtime's blocking threads, the Raft thread, sled's seven I/O threads, the statistics
/// thread, the spawner), and most of them had an arena of their own. Each arena keeps its own
/// free chunks and partly used pages, which `malloc_trim` cannot give back while a live chunk
/// sits in them. Measured on the demo cluster, side by side (`idle_rss.py --series`): 0.1–0.4
/// MiB less at every point from 1 to 40 minutes, with the same growth. Two arenas, not one:
/// the runtime's two workers and the Raft thread allocate at once under load, and with two
/// the single-host benchmark's CPU per call and start time stayed as they were.
pub fn limit_arenas() {
    // SAFETY: mallopt only sets a parameter of malloc; nothing else runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

/// One mapping of `/proc/self/smaps` that can be dropped: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: usize,
    pub end: usize,
}

/// The mappings of a `/proc/self/smaps` text that [`release`] may drop: file-backed, private,
/// not writable, with some pages resident and none of them a private copy (`Anonymous: 0 kB`).
/// Anything that does not parse is skipped, never dropped.
pub fn droppable(smaps: &str) -> Vec<Range> {
    let mut out = Vec::new();
    // The mapping being read, if it is a candidate so far; (range, resident kB, anonymous kB).
    let mut current: Option<(Range, Option<u64>, Option<u64>)> = None;
    let flush = |current: &mut Option<(Range, Option<u64>, Option<u64>)>, out: &mut Vec<Range>| {
        if let Some((range, Some(rss), Some(0))) = current.take() {
            if rss > 0 {
                out.push(range);
            }
        }
    };
    for line in smaps.lines() {
        if let Some(header) = parse_header(line) {
            flush(&mut current, &mut out);
            current = header;
            continue;
        }
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if let Some((_, rss, anon)) = current.as_mut() {
            let kb = kb_value(rest);
            match key {
                "Rss" => *rss = kb,
                "Anonymous" => *anon = kb,
                _ => {}
            }
        }
    }
    flush(&mut current, &mut out);
    out
}

/// `Some(Some(candidate))` for a mapping header line that is a candidate, `Some(None)` for a
/// header line that is not, `None` for a field line.
#[allow(clippy::type_complexity)]
fn parse_header(line: &str) -> Option<Option<(Range, Option<u64>, Option<u64>)>> {
    let mut parts = line.split_whitespace();
    let Range { start, end } = parse_range(parts.next()?)?;
    let perms = parts.next()?;
    let (_offset, _dev, inode) = (parts.next()?, parts.next()?, parts.next()?);
    let path = parts.next().unwrap_or("");
    let perms = perms.as_bytes();
    let candidate = perms.len() == 4
        && perms[0] == b'r'
        && perms[1] == b'-'
        && perms[3] == b'p'
        && inode != "0"
        && path.starts_with('/')
        && start < end;
    Some(candidate.then_some((Range { start, end }, None, None)))
}

/// The `start-end` (hex) field that opens a line of `/proc/self/maps` or a mapping of
/// `/proc/self/smaps`.
fn parse_range(field: &str) -> Option<Range> {
    let (start, end) = field.split_once('-')?;
    Some(Range {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
    })
}

/// The value of an smaps field such as `Rss:       800 kB` (what follows the colon).
fn kb_value(rest: &str) -> Option<u64> {
    rest.trim()
        .strip_suffix(" kB")
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The size of a memory page.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// What [`release`] gave back, for the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Released {
    /// Resident kB of the file mappings dropped (they come back as they are used).
    pub file_kb: u64,
    /// Whether malloc_trim released anything.
    pub trimmed: bool,
}

/// Drops the clean read-only file mappings (see the module doc) and trims malloc.
pub fn release() -> io::Result<Released> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    for range in droppable(&smaps) {
        // SAFETY: the range is a whole mapping of this process, private, read-only and
        // without private pages (see `droppable`): MADV_DONTNEED only unmaps pages that the
        // kernel maps back unchanged from the file on the next access.
        let rc = unsafe {
            libc::madvise(
                range.start as *mut libc::c_void,
                range.end - range.start,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            released.file_kb += ((range.end - range.start) / 1024) as u64;
        }
    }
    // SAFETY: malloc_trim only releases free memory of malloc's own arenas.
    released.trimmed = unsafe { libc::malloc_trim(0) } == 1;
    request_stack_release();
    Ok(released)
}

/// Stack releases asked for so far ([`request_stack_release`]); each thread that takes part
/// remembers the last one it did.
static STACK_RELEASES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static STACK_RELEASED: Cell<u64> = const { Cell::new(0) };
}

/// Asks every runtime thread to give back the unused part of its stack at its next park.
pub fn request_stack_release() {
    STACK_RELEASES.fetch_add(1, Ordering::Relaxed);
}

/// For the runtimes' `on_thread_park`: the thread is about to wait for work, so its stack is
/// as shallow as it gets; if a release was asked since this thread last did one, it gives
/// back the part of its stack below what it uses now. Otherwise one atomic load.
pub fn on_thread_park() {
    let wanted = STACK_RELEASES.load(Ordering::Relaxed);
    if STACK_RELEASED.with(Cell::get) == wanted {
        return;
    }
    STACK_RELEASED.with(|done| done.set(wanted));
    if let Err(e) = release_own_stack() {
        tracing::debug!(error = %e, "cannot give back the unused part of this thread's stack");
    }
}

/// What is kept below this function's own frame: the frames of the calls it makes after it
/// took its stack pointer (reading `/proc/self/maps`, the `madvise` call: well under 2 KiB),
/// the x86-64 red zone (128 bytes), and then some.
const STACK_MARGIN: usize = 8 * 1024;

/// Gives back the pages of the calling thread's stack below its current depth (less
/// `STACK_MARGIN`, 8 KiB): `madvise(MADV_DONTNEED)` on that part of the mapping that holds the
/// stack pointer. Nothing there is in use — a stack grows down, and everything below the
/// current frame belongs to calls that have returned — and the kernel maps zeroed pages back
/// if the thread goes that deep again. Returns the bytes advised.
#[inline(never)]
pub fn release_own_stack() -> io::Result<usize> {
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let Some(low) = stack_mapping_start(&maps, sp) else {
        return Ok(0);
    };
    let end = sp.saturating_sub(STACK_MARGIN) & !(page_size() - 1);
    if end <= low {
        return Ok(0);
    }
    // SAFETY: `[low, end)` is the part of this thread's own stack mapping (private,
    // anonymous, read-write) that lies more than STACK_MARGIN below its stack pointer: no
    // live frame is there, and MADV_DONTNEED only makes those pages zero-filled on next use.
    let rc = unsafe { libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(end - low)
}

/// The start of the mapping of a `/proc/self/maps` text that holds `sp`, when it is a
/// thread's stack: private, anonymous, readable and writable (a thread's stack has no path,
/// the main thread's is `[stack]`). None for anything else or anything that does not parse.
fn stack_mapping_start(maps: &str, sp: usize) -> Option<usize> {
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(Range { start, end }), Some(perms)) =
            (fields.next().and_then(parse_range), fields.next())
        else {
            continue;
        };
        if !(start <= sp && sp < end) {
            continue;
        }
        let path = fields.nth(3);
        let anonymous = matches!(path, None | Some("[stack]"));
        return (perms == "rw-p" && anonymous).then_some(start);
    }
    None
}

/// Growth of the resident set, in kB, past which [`Schedule`] releases again.
///
/// Why so little: what an idle daemon runs only now and then (a statistics sample's rarer
/// branches, the store's segment work, a thread the runtime starts again) maps its code back
/// 64 KiB at a time and keeps it until the next release. With 1 MiB the demo cluster's
/// daemons carried up to 1 MiB of such code (their code resident went from 1.3 to 2.1–2.7
/// MiB in 20 minutes). A release costs little: the pages still in use come back from the
/// page cache, a few dozen minor faults (~2 MiB of code and libc, 64 KiB each), and the
/// malloc trim; growth that is not released (live heap) triggers it once per 256 KiB.
pub const GROWTH_KB: u64 = 256;

/// Releases at the first checks, whatever the resident set: see [`Schedule`].
pub const FIRST_RELEASES: u32 = 2;

/// When to [`release`]: at the first check (start-up is over) and the one after it (what
/// followed start-up once: joining the cluster, the deployment's starts, its first calls),
/// then only when the resident set has grown by more than [`GROWTH_KB`] since it settled
/// after the last release (a reload, a failover, a burst of calls brought pages in). An idle
/// daemon whose resident set stays put does nothing but read `/proc/self/statm` at each
/// check.
///
/// The second release matters since the release build lays out the functions an idle
/// daemon runs together (`build.rs`): what then comes back is those functions, and a
/// deployment that ended after the first release would otherwise keep its code resident
/// (measured on the demo cluster's followers: 0.5–1 MiB, which the growth threshold of the time,
/// 1 MiB, let stay).
///
/// "Settled" is the resident set one check after the last release: what the daemon still
/// uses comes back right after a release, and that must not count as growth.
#[derive(Debug, Default)]
pub struct Schedule {
    settled: Option<u64>,
    settling: bool,
    releases: u32,
}

impl Schedule {
    /// Whether to release now, given the resident kB at this check.
    pub fn due(&mut self, resident_kb: u64) -> bool {
        if self.settling {
            self.settling = false;
            self.settled = Some(resident_kb);
            return false;
        }
        let due = self.releases < FIRST_RELEASES
            || self
                .settled
                .is_none_or(|settled| resident_kb > settled.saturating_add(GROWTH_KB));
        if due {
            self.releases = self.releases.saturating_add(1);
        }
        // Between the first releases there is nothing to settle: the next check releases.
        self.settling = due && self.releases >= FIRST_RELEASES;
        due
    }
}

/// The resident set of this process in kB (`/proc/self/statm`, second field, in pages).
pub fn resident_kb() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/self/statm: unexpected {statm:?}")))?;
    let page = u64::try_from(page_size()).unwrap_or(4096);
    Ok(pages * page / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_releases_at_start_then_only_after_growth_past_the_settled_set() {
        let mut s = Schedule::default();
        assert!(s.due(13_000), "the first check releases (start-up is over)");
        assert!(
            s.due(9_000),
            "the second releases too (what followed start-up once), even with less resident"
        );
        assert!(
            !s.due(10_000),
            "the next check only records the settled set"
        );
        assert!(!s.due(10_000));
        assert!(
            !s.due(10_000 + GROWTH_KB),
            "growth up to the threshold is kept"
        );
        assert!(s.due(10_001 + GROWTH_KB), "more is released");
        assert!(!s.due(12_000), "and the set settles again");
        assert!(!s.due(12_000 + GROWTH_KB / 2));
        assert!(s.due(12_001 + GROWTH_KB));
    }

    #[test]
    fn resident_kb_reads_this_process() {
        let kb = resident_kb().expect("/proc/self/statm");
        assert!(kb > 0);
    }

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 1234 /usr/bin/raftvisord
Size:               1024 kB
Rss:                 800 kB
Anonymous:             0 kB
55d0a0100000-55d0a0900000 r-xp 00100000 08:01 1234 /usr/bin/raftvisord
Size:               8192 kB
Rss:                7000 kB
Anonymous:             0 kB
55d0a0900000-55d0a0960000 r--p 00900000 08:01 1234 /usr/bin/raftvisord
Size:                384 kB
Rss:                 384 kB
Anonymous:           384 kB
55d0a0960000-55d0a0970000 rw-p 00960000 08:01 1234 /usr/bin/raftvisord
Size:                 64 kB
Rss:                  64 kB
Anonymous:            64 kB
55d0b0000000-55d0b0100000 rw-p 00000000 00:00 0 [heap]
Size:               1024 kB
Rss:                 600 kB
Anonymous:           600 kB
7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6
Size:               1024 kB
Rss:                   0 kB
Anonymous:             0 kB
7f0000100000-7f0000200000 r--s 00000000 08:01 77 /dev/shm/shared
Size:               1024 kB
Rss:                  16 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 08:01 98 /usr/lib/libm.so.6
Size:               1024 kB
Rss:                 300 kB
7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0 [vdso]
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_clean_private_read_only_file_mappings_with_resident_pages() {
        let got = droppable(SMAPS);
        assert_eq!(
            got,
            vec![
                Range {
                    start: 0x55d0a0000000,
                    end: 0x55d0a0100000
                },
                Range {
                    start: 0x55d0a0100000,
                    end: 0x55d0a0900000
                },
            ],
            "the relocated read-only data (private pages), the writable data, the heap, a \
             mapping with nothing resident, a shared mapping, one whose Anonymous line is \
             missing and the vdso are all kept"
        );
    }

    #[test]
    fn garbage_is_never_dropped() {
        assert!(droppable("").is_empty());
        assert!(droppable("zzzz-yyyy r--p 0 0 1 /x\nRss: 4 kB\nAnonymous: 0 kB\n").is_empty());
        assert!(droppable("1000-2000 r--p 0 08:01 5 /x\nRss: 4 kB\nAnonymous: x kB\n").is_empty());
    }

    const MAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 1234 /usr/bin/raftvisord
55d0b0000000-55d0b0100000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 ---p 00000000 00:00 0
7f0000001000-7f0000201000 rw-p 00000000 00:00 0
7f0000300000-7f0000400000 rw-p 00000000 08:01 99 /dev/shm/data
7ffc00000000-7ffc00100000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn the_stack_is_the_anonymous_read_write_mapping_that_holds_the_pointer() {
        assert_eq!(
            stack_mapping_start(MAPS, 0x7f0000100000),
            Some(0x7f0000001000)
        );
        assert_eq!(
            stack_mapping_start(MAPS, 0x7ffc00080000),
            Some(0x7ffc00000000)
        );
        assert_eq!(
            stack_mapping_start(MAPS, 0x7f0000000800),
            None,
            "the guard page"
        );
        assert_eq!(
            stack_mapping_start(MAPS, 0x7f0000300800),
            None,
            "a file mapping"
        );
        assert_eq!(stack_mapping_start(MAPS, 0x55d0a0000800), None, "read-only");
        assert_eq!(stack_mapping_start(MAPS, 0x55d0b0000800), None, "the heap");
        assert_eq!(
            stack_mapping_start(MAPS, 0x1000),
            None,
            "nothing mapped there"
        );
        assert_eq!(stack_mapping_start("garbage\nzz-yy rw-p\n", 0x10), None);
    }

    /// Resident kB of the mapping of this process that holds `addr` (`/proc/self/smaps`).
    fn resident_kb_of_mapping_at(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let mut inside = false;
        for line in smaps.lines() {
            if let Some(range) = line.split_whitespace().next().and_then(parse_range) {
                inside = range.start <= addr && addr < range.end;
                continue;
            }
            if inside {
                if let Some(kb) = line.strip_prefix("Rss:") {
                    return kb_value(kb).unwrap_or(0);
                }
            }
        }
        0
    }

    /// Touches `depth` KiB of stack below the caller.
    #[inline(never)]
    fn go_deep(depth: usize) -> u64 {
        let mut frame = [0u8; 1024];
        frame[depth % 1024] = depth as u8;
        let below = if depth > 1 { go_deep(depth - 1) } else { 0 };
        std::hint::black_box(&frame);
        below + u64::from(frame[depth % 1024])
    }

    #[test]
    fn a_thread_gives_back_the_stack_it_no_longer_uses() {
        let measured = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let marker = 0u8;
                let sp = std::hint::black_box(&marker) as *const u8 as usize;
                std::hint::black_box(go_deep(512));
                let deep = resident_kb_of_mapping_at(sp);
                let advised = release_own_stack().expect("release_own_stack");
                let after = resident_kb_of_mapping_at(sp);
                // Still works after it: the pages come back zeroed.
                std::hint::black_box(go_deep(256));
                (deep, advised, after)
            })
            .expect("spawn")
            .join()
            .expect("join");
        let (deep, advised, after) = measured;
        assert!(
            deep >= 512,
            "the recursion touched its 512 KiB: {deep} kB resident"
        );
        assert!(advised >= 400 * 1024, "advised {advised} bytes");
        assert!(
            after + 400 <= deep,
            "the stack's resident set went from {deep} to {after} kB"
        );
    }

    #[test]
    fn release_on_this_process_keeps_it_working() {
        // Drops this test binary's clean pages and trims malloc: everything still runs.
        let before: Vec<u64> = (0..1000).collect();
        let released = release().expect("read /proc/self/smaps");
        assert!(released.file_kb > 0, "the test binary has clean code pages");
        let after: u64 = before.iter().sum();
        assert_eq!(after, 499_500);
    }
}
