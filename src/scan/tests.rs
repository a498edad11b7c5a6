use super::*;
use crate::grammar::builtin;

fn streamed(data: &[u8], format: &FormatChoice) -> FileCheck {
    let mut options = ScanOptions::new(format.clone());
    let mut result = FileCheck::default();
    let reader = Box::new(io::Cursor::new(data.to_vec()));
    let Ok(()) = scan_reader(reader, &mut options, &Count, &mut result);
    result
}

fn mapped(data: &[u8], format: &FormatChoice, chunk_bytes: usize) -> FileCheck {
    let mut options = ScanOptions::new(format.clone());
    options.chunk_bytes = chunk_bytes;
    let mut result = FileCheck::default();
    let Ok(()) = scan_mapped(data, &mut options, &Count, &mut result, &|_| {});
    result
}

/// Streams are framed into batches of about a megabyte at least; a
/// few megabytes of input make several, parsed out of order and merged
/// in order. W3C `#Fields:` lines must carry across batch boundaries.
#[test]
fn streamed_batches_equal_one_mapped_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let detect = FormatChoice::Detect(builtin::all().to_vec());
    for name in ["iis/u_ex261128.log", "formats/nginx-combined.log"] {
        let one = std::fs::read(dir.join(name)).unwrap();
        let data: Vec<u8> = one.repeat((3 << 20) / one.len() + 1);
        let want = mapped(&data, &detect, usize::MAX / 2);
        let mut options = ScanOptions::new(detect.clone());
        options.chunk_bytes = 1;
        let mut got = FileCheck::default();
        let reader = Box::new(io::Cursor::new(data.clone()));
        let Ok(()) = scan_reader(reader, &mut options, &Count, &mut got);
        assert_eq!(got, want, "{name}");
        assert!(got.parsed > 10_000, "{name}: {}", got.parsed);
    }
}

/// The same answer on every path: streamed, or mapped in chunks of any
/// size (down to one byte, which puts a boundary after every line).
#[test]
fn chunked_check_equals_streamed_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let mut inputs: Vec<Vec<u8>> = vec![
        std::fs::read(dir.join("nginx/access.log")).unwrap(),
        std::fs::read(dir.join("iis/u_ex261128.log")).unwrap(),
        std::fs::read(dir.join("apache/access_log")).unwrap(),
    ];
    let mut ugly = std::fs::read(dir.join("formats/nginx-combined.log")).unwrap();
    ugly.extend_from_slice(b"\n\r\n\0\0junk\xff\n");
    ugly.extend(std::iter::repeat_n(b'x', crate::parse::MAX_LINE + 5));
    ugly.extend_from_slice(b"\nlast line without newline");
    inputs.push(ugly);
    let detect = FormatChoice::Detect(builtin::all().to_vec());
    for data in &inputs {
        let want = streamed(data, &detect);
        assert!(want.lines > 0);
        for chunk in [1, 7, 1000, 64 << 10, usize::MAX / 2] {
            assert_eq!(mapped(data, &detect, chunk), want, "chunk {chunk}");
        }
    }
}

/// Rejected lines come out in file order on every path, whatever the
/// chunk size: parts are merged in input order, rejects with them.
#[test]
fn rejects_are_written_in_file_order_on_every_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let good = std::fs::read(dir.join("formats/nginx-combined.log")).unwrap();
    let mut data = Vec::new();
    let mut want = Vec::new();
    for i in 0..200 {
        data.extend_from_slice(&good);
        let bad = format!("not a log line {i}\n");
        data.extend_from_slice(bad.as_bytes());
        want.extend_from_slice(bad.as_bytes());
    }
    let format = FormatChoice::Fixed(builtin::Registry::new().find("nginx-combined").unwrap());
    let rejects_of = |run: &dyn Fn(&mut ScanOptions)| {
        let mut out: Vec<u8> = Vec::new();
        {
            let mut options = ScanOptions::new(format.clone());
            options.rejects = Some(&mut out);
            run(&mut options);
        }
        out
    };
    let streamed = rejects_of(&|options| {
        options.chunk_bytes = 1;
        let mut result = FileCheck::default();
        let reader = Box::new(io::Cursor::new(data.clone()));
        let Ok(()) = scan_reader(reader, options, &Count, &mut result);
    });
    assert_eq!(
        String::from_utf8_lossy(&streamed),
        String::from_utf8_lossy(&want)
    );
    for chunk in [1, 1000, 64 << 10] {
        let mapped = rejects_of(&|options| {
            options.chunk_bytes = chunk;
            let mut result = FileCheck::default();
            let Ok(()) = scan_mapped(&data, options, &Count, &mut result, &|_| {});
            assert_eq!(result.rejected, 200);
        });
        assert_eq!(mapped, want, "chunk {chunk}");
    }
}

/// Every record reaches the sink with its own line number (each line
/// names it in its path), at any chunk size and any number of workers,
/// rejected and blank lines among them.
#[test]
fn every_record_carries_its_own_line_number() {
    struct Numbers(std::sync::Mutex<Vec<(u64, u64)>>);
    impl Sink for Numbers {
        type Part = Vec<(u64, u64)>;
        type Error = std::convert::Infallible;
        fn part(&self) -> Self::Part {
            Vec::new()
        }
        fn record(&self, part: &mut Self::Part, record: &Record<'_>, line: u64) {
            let path = record.request().path.expect("a path").raw;
            let named = std::str::from_utf8(&path[3..]).unwrap().parse().unwrap();
            part.push((line, named));
        }
        fn merge(&self, part: Self::Part) -> Result<(), Self::Error> {
            self.0.lock().unwrap().extend(part);
            Ok(())
        }
    }
    let mut data = Vec::new();
    for n in 1..=3000u64 {
        match n % 97 {
            0 => data.extend_from_slice(b"junk\n"),
            1 => data.push(b'\n'),
            _ => data.extend_from_slice(
                format!(
                    "10.0.0.1 - - [28/Nov/2026:10:00:00 +0000] \"GET /n/{n} HTTP/1.1\" 200 5 \"-\" \"ua\"\n"
                )
                .as_bytes(),
            ),
        }
    }
    data.pop();
    let format = FormatChoice::Fixed(builtin::Registry::new().find("nginx-combined").unwrap());
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for chunk in [1, 100, 1000, 64 << 10] {
            let sink = Numbers(std::sync::Mutex::new(Vec::new()));
            let mut options = ScanOptions::new(format.clone());
            options.chunk_bytes = chunk;
            let mut result = FileCheck::default();
            pool.install(|| {
                let Ok(()) = scan_mapped(&data, &mut options, &sink, &mut result, &|_| {});
            });
            let got = sink.0.into_inner().unwrap();
            assert_eq!(
                got.len(),
                3000 - 30 - 31, // junk and blank lines
                "{threads} threads, chunks of {chunk}"
            );
            assert!(
                got.iter().all(|(line, named)| line == named),
                "{threads} threads, chunks of {chunk}"
            );
            assert_eq!(result.lines, 3000);
        }
    }
}

/// A worker that asks for its chunk's first line after a later chunk's
/// worker has moved the cursor past it still gets its own.
#[test]
fn first_lines_are_right_in_any_order_of_asking() {
    let sizes = [3u64, 0, 5, 1, 7, 2, 4];
    let before = |i: usize| sizes[..i].iter().sum::<u64>();
    for order in [
        [6, 5, 0, 3, 1, 4, 2],
        [0, 1, 2, 3, 4, 5, 6],
        [3, 3, 6, 0, 2, 5, 1],
    ] {
        let lines = Lines::new(sizes.len());
        // Some chunks counted by their parse already, the rest on demand.
        lines.counted(2, sizes[2]);
        for &i in &order {
            assert_eq!(
                lines.first(i, |j| sizes[j]),
                before(i),
                "chunk {i} in {order:?}"
            );
        }
    }
}

/// A rotated set read with the next file decompressed ahead gives each
/// file exactly what it gives alone: the same records (line, status,
/// bytes, user agent) and the same check, damaged and plain files among
/// them included.
#[test]
fn a_set_read_ahead_equals_each_file_alone() {
    use std::io::Write;
    type Rows = Vec<(u64, Option<u16>, Option<u64>, String)>;
    struct Values(std::sync::Mutex<Rows>);
    impl Sink for Values {
        type Part = Rows;
        type Error = std::convert::Infallible;
        fn part(&self) -> Rows {
            Vec::new()
        }
        fn record(&self, part: &mut Rows, record: &Record<'_>, line: u64) {
            let agent = record
                .user_agent()
                .map(|a| String::from_utf8_lossy(&a.decode()).into_owned());
            part.push((
                line,
                record.status(),
                record.bytes(),
                agent.unwrap_or_default(),
            ));
        }
        fn merge(&self, part: Rows) -> Result<(), Self::Error> {
            self.0.lock().unwrap().extend(part);
            Ok(())
        }
    }
    let gz = |text: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text).unwrap();
        enc.finish().unwrap()
    };
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let nginx = std::fs::read(samples.join("nginx/access.log")).unwrap();
    // Several batches: the next file is opened while this one's last
    // batches are parsed.
    let big = nginx.repeat((3 << 20) / nginx.len() + 1);
    let dir = tempfile::tempdir().unwrap();
    let mut truncated = gz(&big);
    truncated.truncate(truncated.len() / 2);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("access.log.5.gz", gz(&big)),
        ("access.log.4.gz", truncated),
        ("access.log.3.gz", Vec::new()),
        ("access.log.2", big.clone()),
        ("access.log.1.gz", gz(&nginx)),
        (
            "u_ex.log.gz",
            gz(&std::fs::read(samples.join("iis/u_ex261128.log")).unwrap()),
        ),
    ];
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            Source::Path(path)
        })
        .collect();
    let detect = FormatChoice::Detect(builtin::all().to_vec());
    let scan_with = |options: &mut ScanOptions, source: &Source| {
        let sink = Values(std::sync::Mutex::new(Vec::new()));
        let Ok(check) = scan(source, options, &sink);
        (check, sink.0.into_inner().unwrap())
    };
    let alone: Vec<_> = sources
        .iter()
        .map(|s| scan_with(&mut ScanOptions::new(detect.clone()), s))
        .collect();
    let mut options = ScanOptions::new(detect.clone());
    options.read_ahead(&sources);
    // Twice, as the report's second pass reads them.
    for pass in 0..2 {
        for (source, want) in sources.iter().zip(&alone) {
            let got = scan_with(&mut options, source);
            assert_eq!(got, *want, "pass {pass}: {}", source.display());
        }
    }
    // Read ahead: each compressed file that follows a stream (the
    // truncated one, the one after the small plain file, the IIS one),
    // in both passes; not the empty one (nothing to decompress) nor the
    // first of a pass.
    assert_eq!(options.ahead.as_ref().unwrap().served(), 6);
    let (first, rows) = &alone[0];
    assert_eq!(first.compression, Some("gzip"));
    assert_eq!(rows.len() as u64, first.parsed);
    assert!(alone[1]
        .0
        .error
        .as_deref()
        .is_some_and(|e| e.contains("read error")));
    assert!(alone[1].0.parsed > 0 && alone[1].0.parsed < first.parsed);
    // The values are the sample's own: its first line, read in the set.
    let line = std::str::from_utf8(&nginx).unwrap().lines().next().unwrap();
    let (status, bytes) = (rows[0].1.unwrap(), rows[0].2.unwrap());
    assert!(
        line.contains(&format!("\" {status} {bytes} ")),
        "{line} / {:?}",
        rows[0]
    );
    assert!(
        line.contains(&format!(" \"{}\" ", rows[0].3)),
        "{line} / {:?}",
        rows[0]
    );
    assert!(rows[0].3.starts_with("Mozilla/"), "{:?}", rows[0]);
}

/// A sink that merges slower than the workers parse (export writing to a
/// slow disk) does not make the scan hold every chunk parsed: the parts
/// alive at once stay within the workers' lead, and none is lost.
#[test]
fn a_slow_merge_holds_few_parts() {
    use std::sync::atomic::AtomicUsize;
    struct Slow {
        alive: AtomicUsize,
        most: AtomicUsize,
        merged: Mutex<Vec<u64>>,
    }
    impl Sink for Slow {
        type Part = Vec<u64>;
        type Error = std::convert::Infallible;
        fn part(&self) -> Vec<u64> {
            let alive = self.alive.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(alive, Ordering::SeqCst);
            Vec::new()
        }
        fn record(&self, part: &mut Vec<u64>, _: &Record<'_>, line: u64) {
            part.push(line);
        }
        fn merge(&self, part: Vec<u64>) -> Result<(), Self::Error> {
            std::thread::sleep(std::time::Duration::from_millis(2));
            self.merged.lock().unwrap().extend(part);
            self.alive.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let line = b"10.0.0.1 - - [28/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 500 5 \"-\" \"ua\"\n";
    let data = line.repeat(2000);
    let format = FormatChoice::Fixed(builtin::Registry::new().find("nginx-combined").unwrap());
    let threads = 3;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let sink = Slow {
        alive: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        merged: Mutex::new(Vec::new()),
    };
    let mut options = ScanOptions::new(format);
    // A chunk per line or two: 2,000 chunks, each merged in 2 ms.
    options.chunk_bytes = line.len() + 1;
    let mut result = FileCheck::default();
    pool.install(|| {
        let Ok(()) = scan_mapped(&data, &mut options, &sink, &mut result, &|_| {});
    });
    assert_eq!(
        *sink.merged.lock().unwrap(),
        (1..=2000).collect::<Vec<u64>>()
    );
    assert_eq!(result.parsed, 2000);
    let most = sink.most.load(Ordering::SeqCst);
    // The lead (twice the workers) and a part in each worker's hands.
    assert!(most <= 3 * threads, "{most} parts alive at once");
}
