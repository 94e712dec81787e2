//! Parallel gzip that still produces **one** gzip member.
//!
//! melange compresses the data section with pgzip (`pkg/build/package.go`): the input is cut
//! into 1 MiB blocks, each block is deflated on its own (with the previous block's last 32 KiB
//! as a preset dictionary), every block but the last ends with a sync flush so it stops on a
//! byte boundary, and the raw deflate streams are concatenated under a single gzip header and
//! trailer. The result is an ordinary single-member gzip stream that apk-tools reads as its
//! data section; several gzip members would not do, because apk-tools treats a member boundary
//! as a section boundary.
//!
//! The block size is fixed, so the output bytes do not depend on the number of threads.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Uncompressed bytes per independently compressed block.
pub const BLOCK_SIZE: usize = 1 << 20;
const DICT_SIZE: usize = 32 << 10;

/// The 10-byte gzip header Go's writers emit: no name, mtime 0, XFL 0, OS 255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    seq: u64,
    data: Vec<u8>,
    dict: Vec<u8>,
    last: bool,
}

struct Done {
    seq: u64,
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

/// A `Write` that compresses in parallel and writes one gzip member to `W`.
pub struct ParallelGzWriter<W: Write + Send + 'static> {
    buf: Vec<u8>,
    seq: u64,
    prev_tail: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    acks: Receiver<()>,
    in_flight: usize,
    max_in_flight: usize,
    workers: Vec<JoinHandle<()>>,
    sink: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ParallelGzWriter<W> {
    /// Start `threads` compressor threads (at least one) writing to `inner`.
    pub fn new(inner: W, threads: usize, level: u32) -> io::Result<Self> {
        let threads = threads.max(1);
        let (job_tx, job_rx) = sync_channel::<Job>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = sync_channel::<Done>(threads * 2);
        let (ack_tx, ack_rx) = sync_channel::<()>(threads * 4 + 4);
        let mut workers = Vec::new();
        for _ in 0..threads {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            workers.push(std::thread::spawn(move || worker(rx, tx, level)));
        }
        drop(done_tx);
        let sink = std::thread::spawn(move || sink(inner, done_rx, ack_tx));
        Ok(ParallelGzWriter {
            buf: Vec::with_capacity(BLOCK_SIZE),
            seq: 0,
            prev_tail: Vec::new(),
            jobs: Some(job_tx),
            acks: ack_rx,
            in_flight: 0,
            max_in_flight: threads * 3 + 2,
            workers,
            sink: Some(sink),
        })
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        while self.in_flight >= self.max_in_flight {
            if self.acks.recv().is_err() {
                return Err(self.sink_error());
            }
            self.in_flight -= 1;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK_SIZE));
        let tail_start = data.len().saturating_sub(DICT_SIZE);
        let dict = std::mem::replace(&mut self.prev_tail, data[tail_start..].to_vec());
        let job = Job {
            seq: self.seq,
            data,
            dict,
            last,
        };
        self.seq += 1;
        self.in_flight += 1;
        let sent = self.jobs.as_ref().map(|tx| tx.send(job));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.sink_error()),
        }
    }

    /// The error that stopped the sink thread (it only stops early on a write error).
    fn sink_error(&mut self) -> io::Error {
        self.jobs = None;
        match self.sink.take().map(|h| h.join()) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("compression thread panicked"),
            _ => io::Error::other("compression stopped"),
        }
    }

    /// Compress what is left, write the trailer and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        self.jobs = None; // workers exit once the queue drains
        for w in self.workers.drain(..) {
            w.join()
                .map_err(|_| io::Error::other("compression thread panicked"))?;
        }
        match self.sink.take().map(|h| h.join()) {
            Some(Ok(result)) => result,
            _ => Err(io::Error::other("compression thread panicked")),
        }
    }
}

impl<W: Write + Send + 'static> Write for ParallelGzWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            let room = BLOCK_SIZE - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == BLOCK_SIZE {
                self.dispatch(false)?;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn worker(jobs: Arc<Mutex<Receiver<Job>>>, done: SyncSender<Done>, level: u32) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        // A fresh compressor per block: a reset one can keep state that makes the output
        // depend on which blocks this thread compressed before (seen with zlib-rs).
        let mut z = Compress::new(Compression::new(level), false);
        if !job.dict.is_empty() {
            z.set_dictionary(&job.dict)
                .expect("deflate accepts a dictionary");
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&job.data);
        let flush = if job.last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let out = deflate_block(&mut z, &job.data, flush);
        if done
            .send(Done {
                seq: job.seq,
                out,
                crc,
                len: job.data.len() as u64,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Deflate all of `input`, ending with `flush` (a sync marker, or the final block).
fn deflate_block(z: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 1024);
    let start_in = z.total_in();
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = (z.total_in() - start_in) as usize;
        let status = z
            .compress_vec(&input[consumed..], &mut out, flush)
            .expect("deflate does not fail on valid input");
        let consumed = (z.total_in() - start_in) as usize;
        let room_left = out.capacity() > out.len();
        match (flush, status) {
            (FlushCompress::Finish, Status::StreamEnd) => return out,
            (FlushCompress::Finish, _) => {}
            (_, _) if consumed == input.len() && room_left => return out,
            _ => {}
        }
    }
}

fn sink<W: Write>(mut inner: W, done: Receiver<Done>, acks: SyncSender<()>) -> io::Result<W> {
    inner.write_all(&GZIP_HEADER)?;
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut crc = crc32fast::Hasher::new();
    let mut len: u64 = 0;
    for d in done {
        pending.insert(d.seq, d);
        while let Some(d) = pending.remove(&next) {
            inner.write_all(&d.out)?;
            len += d.len;
            crc.combine(&d.crc);
            next += 1;
            let _ = acks.try_send(());
        }
    }
    if !pending.is_empty() {
        return Err(io::Error::other("compression block missing"));
    }
    inner.write_all(&crc.finalize().to_le_bytes())?;
    inner.write_all(&(len as u32).to_le_bytes())?;
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Compressible text mixed with pseudo-random bytes, deterministic.
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                if (i / 4096) % 3 == 0 {
                    (x >> 16) as u8
                } else {
                    b"the quick brown fox\n"[i % 20]
                }
            })
            .collect()
    }

    fn compress(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParallelGzWriter::new(Vec::new(), threads, 6).unwrap();
        for chunk in data.chunks(77_777) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn output_is_one_gzip_member_that_decodes_back() {
        let data = sample(3 * BLOCK_SIZE + 12_345);
        let gz = compress(&data, 3);
        let mut dec = flate2::read::GzDecoder::new(&gz[..]);
        let mut back = Vec::new();
        dec.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        // GzDecoder stops after one member: if all input was used, there was only one.
        let mut rest = Vec::new();
        dec.into_inner().read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "{} bytes after the first member",
            rest.len()
        );
        assert!(gz.len() < data.len());
    }

    #[test]
    fn bytes_do_not_depend_on_thread_count() {
        // Blocks alternate between text and noise so that a compressor carrying state from
        // one block to the next would change the output with the thread count.
        let mut data = Vec::new();
        for i in 0..6 {
            let s = sample(BLOCK_SIZE);
            data.extend(s.iter().map(|&b| {
                if i % 2 == 0 {
                    b
                } else {
                    b.rotate_left(3) ^ 0x5a
                }
            }));
        }
        let one = compress(&data, 1);
        for threads in [2, 3] {
            assert!(one == compress(&data, threads), "{threads} threads");
        }
    }

    #[test]
    fn empty_input_is_a_valid_stream() {
        let gz = compress(b"", 2);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
    }
}
