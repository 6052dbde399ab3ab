//! The byte pipelines, run on blocking threads so compression overlaps with mysqldump and the upload:
//! dump → zstd → SHA-256 → chunks for the destination (backup), and chunks → SHA-256 → zstd → mysql
//! (restore). Both keep the last bytes of the plain SQL to check mysqldump's `-- Dump completed` trailer,
//! and hold at most one chunk plus zstd's window in memory.

use std::io::{self, Read, Write};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Size of the compressed chunks handed to the destination.
pub const CHUNK_SIZE: usize = 1024 * 1024;
/// How many bytes of the end of the SQL are kept to look for the trailer.
const TAIL_SIZE: usize = 512;
/// What mysqldump writes last, and only when it finished without error.
const TRAILER: &[u8] = b"-- Dump completed";

/// What went through a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes of plain SQL.
    pub raw_bytes: u64,
    /// Bytes of compressed data.
    pub compressed_bytes: u64,
    /// Hex SHA-256 of the compressed data (what is stored, so `sha256sum` of the file matches).
    pub sha256: String,
    /// Whether the SQL ends with mysqldump's `-- Dump completed` line.
    pub trailer: bool,
}

/// Whether `tail` (the end of a dump) ends with mysqldump's completion line.
pub fn ends_with_trailer(tail: &[u8]) -> bool {
    let end = tail.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let trimmed = &tail[..end];
    let last_line = trimmed
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(trimmed, |i| &trimmed[i + 1..]);
    last_line.starts_with(TRAILER)
}

/// The last [`TAIL_SIZE`] bytes seen.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= TAIL_SIZE {
            self.0.clear();
            self.0.extend_from_slice(&bytes[bytes.len() - TAIL_SIZE..]);
        } else {
            self.0.extend_from_slice(bytes);
            if self.0.len() > TAIL_SIZE {
                self.0.drain(..self.0.len() - TAIL_SIZE);
            }
        }
    }
}

/// Error of a pipeline thread.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The other end went away (the destination failed, or the reader was stopped): the caller already
    /// knows why.
    #[error("the other end of the pipeline closed")]
    Closed,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Collects compressed output into chunks, hashing and counting it, and sends each full chunk on.
struct ChunkSender {
    buffer: Vec<u8>,
    hasher: Sha256,
    bytes: u64,
    tx: mpsc::Sender<Bytes>,
}

impl ChunkSender {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_SIZE));
        self.hasher.update(&chunk);
        self.bytes += chunk.len() as u64;
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_SIZE {
            self.send_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn closed_or_io(error: io::Error) -> PipelineError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        PipelineError::Closed
    } else {
        PipelineError::Io(error)
    }
}

/// Reads plain SQL from `input` until EOF, compresses it with zstd at `level` and sends the compressed data in
/// [`CHUNK_SIZE`] chunks to `tx`. Blocking: run it on a blocking thread.
pub fn compress(mut input: impl Read, level: i32, tx: mpsc::Sender<Bytes>) -> Result<StreamStats, PipelineError> {
    let sender = ChunkSender {
        buffer: Vec::with_capacity(CHUNK_SIZE),
        hasher: Sha256::new(),
        bytes: 0,
        tx,
    };
    let mut encoder = zstd::stream::write::Encoder::new(sender, level)?;
    // A frame checksum lets a decoder catch corruption even without the manifest's SHA-256.
    encoder.include_checksum(true)?;
    let mut buffer = vec![0u8; 256 * 1024];
    let mut tail = Tail::default();
    let mut raw_bytes = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PipelineError::Io(e)),
        };
        raw_bytes += n as u64;
        tail.push(&buffer[..n]);
        encoder.write_all(&buffer[..n]).map_err(closed_or_io)?;
    }
    let mut sender = encoder.finish().map_err(closed_or_io)?;
    sender.send_buffer().map_err(closed_or_io)?;
    Ok(StreamStats {
        raw_bytes,
        compressed_bytes: sender.bytes,
        sha256: hex::encode(sender.hasher.finalize()),
        trailer: ends_with_trailer(&tail.0),
    })
}

/// Counts, and keeps the tail of, what passes through to `inner`.
struct Counting<W> {
    inner: W,
    bytes: u64,
    tail: Tail,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.bytes += n as u64;
        self.tail.push(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Receives compressed chunks from `rx`, hashes them and writes the decompressed SQL to `output` until `rx`
/// closes. Blocking: run it on a blocking thread.
pub fn decompress(mut rx: mpsc::Receiver<Bytes>, output: impl Write) -> Result<StreamStats, PipelineError> {
    let counting = Counting {
        inner: output,
        bytes: 0,
        tail: Tail::default(),
    };
    let mut decoder = zstd::stream::write::Decoder::new(counting)?;
    let mut hasher = Sha256::new();
    let mut compressed_bytes = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        hasher.update(&chunk);
        compressed_bytes += chunk.len() as u64;
        decoder.write_all(&chunk).map_err(closed_or_io)?;
    }
    decoder.flush().map_err(closed_or_io)?;
    let counting = decoder.into_inner();
    Ok(StreamStats {
        raw_bytes: counting.bytes,
        compressed_bytes,
        sha256: hex::encode(hasher.finalize()),
        trailer: ends_with_trailer(&counting.tail.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailer_must_be_the_last_line() {
        assert!(ends_with_trailer(
            b"INSERT ...;\n-- Dump completed on 2024-01-01 10:00:00\n"
        ));
        assert!(ends_with_trailer(b"-- Dump completed\n\n"));
        assert!(!ends_with_trailer(
            b"-- Dump completed on 2024-01-01\nINSERT INTO t VALUES (1);\n"
        ));
        assert!(!ends_with_trailer(b"INSERT INTO t VALUES (1),(2"));
        assert!(!ends_with_trailer(b""));
    }

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut tail = Tail::default();
        for _ in 0..1000 {
            tail.push(b"0123456789");
        }
        tail.push(b"end");
        assert_eq!(tail.0.len(), TAIL_SIZE);
        assert!(tail.0.ends_with(b"789end"));
        tail.push(&[b'x'; 2 * TAIL_SIZE]);
        assert_eq!(tail.0, vec![b'x'; TAIL_SIZE]);
    }

    /// A dump compressed and decompressed comes back byte for byte, with matching counts and hashes, and
    /// the stored hash is the hash of the compressed bytes.
    #[test]
    fn round_trip_through_both_pipelines() {
        let mut sql = Vec::new();
        for i in 0..200_000 {
            sql.extend_from_slice(format!("INSERT INTO t VALUES ({i},'row {i}');\n").as_bytes());
        }
        sql.extend_from_slice(b"-- Dump completed on 2024-01-01 10:00:00\n");

        let (tx, mut rx) = mpsc::channel(4);
        let input = sql.clone();
        let producer = std::thread::spawn(move || compress(input.as_slice(), 3, tx));
        let mut compressed = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = rx.blocking_recv() {
            assert!(chunk.len() <= CHUNK_SIZE + 256 * 1024, "chunks stay bounded");
            compressed.extend_from_slice(&chunk);
            chunks += 1;
        }
        let packed = producer.join().expect("thread").expect("compresses");
        assert!(chunks >= 1);
        assert_eq!(packed.raw_bytes, sql.len() as u64);
        assert_eq!(packed.compressed_bytes, compressed.len() as u64);
        assert_eq!(packed.sha256, hex::encode(Sha256::digest(&compressed)));
        assert!(packed.trailer);
        assert!(compressed.len() < sql.len() / 4, "zstd compresses SQL well");

        let (tx, rx) = mpsc::channel(4);
        let consumer = std::thread::spawn(move || {
            let mut out = Vec::new();
            decompress(rx, &mut out).map(|stats| (stats, out))
        });
        for piece in compressed.chunks(100_000) {
            tx.blocking_send(Bytes::copy_from_slice(piece)).expect("sends");
        }
        drop(tx);
        let (unpacked, out) = consumer.join().expect("thread").expect("decompresses");
        assert_eq!(out, sql);
        assert_eq!(unpacked, packed);
    }

    #[test]
    fn a_dump_cut_short_has_no_trailer() {
        let sql = b"CREATE TABLE t (a int);\nINSERT INTO t VALUES (1),(2".to_vec();
        let (tx, mut rx) = mpsc::channel(4);
        let producer = std::thread::spawn(move || compress(sql.as_slice(), 3, tx));
        while rx.blocking_recv().is_some() {}
        let stats = producer.join().expect("thread").expect("compresses");
        assert!(!stats.trailer);
    }

    #[test]
    fn a_closed_destination_stops_compression() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let endless = std::io::repeat(b'x').take(64 * 1024 * 1024);
        let result = compress(endless, 1, tx);
        assert!(matches!(result, Err(PipelineError::Closed)), "{result:?}");
    }
}
