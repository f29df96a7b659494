import CPMemStreamStores

// MARK: - Copying entries into the medium, and flushing them

nonisolated extension RegionWriter {
    /// Entries of this many bytes or more have their data flushed as it is copied: libpmem2 copies them
    /// with non-temporal stores, which need no flush afterwards. Measured with cache-line flushes on
    /// `/dev/shm`: a synchronous append of 4 KiB took 1 000 ns with ordinary stores and a flush of every
    /// line after the seal, 830 ns so; 16 KiB 2 900 and 1 600 ns. Batches and asynchronous appends of
    /// 1 – 1.5 KiB are 15 – 45 % slower streamed, so they stream from here.
    private static let streamingThreshold = 2048

    /// The size from which this writer streams entries (see ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``):
    /// ``streamingThreshold``, or `nil` when it streams none, with page granularity, where every flush is an
    /// `msync`. A write takes it once, for its copies and its flushes alike.
    var streamingFrom: Int? {
        self.streamsLargeData ? Self.streamingThreshold : nil
    }

    /// The part of a large entry's data that ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` writes back as
    /// it copies it (the *streamed lines*): the whole cache lines after those the header touches and before
    /// the one the data ends in. An entry whose data is smaller than `threshold` has none.
    static func streamedLines(
        entryOffset offset: Int,
        dataSize: Int,
        threshold: Int
    ) -> Range<Int>? {
        guard dataSize >= threshold else { return nil }
        let start = (offset + EntryHeader.size + 63) & ~63
        let end = (offset + EntryHeader.size + dataSize) & ~63
        return start..<max(start, end)
    }

    /// Copies a reserved entry's data from `buffer` and seals the entry (see ``seal(_:data:)``).
    ///
    /// A large entry's streamed lines (see ``streamedLines(entryOffset:dataSize:threshold:)``) are copied
    /// with a flush and no drain (non-temporal stores). The bytes before them share a cache line with the
    /// header, and the bytes after them share one with the entry's padding and terminator: both are copied
    /// without a flush, and each of those lines is flushed once, after the seal, so that no line is stored
    /// into or flushed again while it is being written back (a second flush of the line the data ends in cost
    /// about 100 ns at 4 KiB). Small entries are copied without a flush.
    /// ``flushSealed(count:streamingFrom:entry:)`` flushes the rest, given the same `threshold`; the one drain
    /// after it makes all of it durable, as when everything was flushed after the seal.
    ///
    /// - Parameter threshold: The size from which an entry is streamed (from ``streamingFrom``, and
    ///   the same for the flushes of the same write); `nil` to stream nothing.
    /// - Returns: The streamed lines, if any.
    @discardableResult
    func copyAndSeal(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        streamingFrom threshold: Int?,
        piecesAbove pieceLimit: Int = RegionWriter.checksummedPiece
    ) -> Range<Int>? {
        Self.copyAndSeal(
            entry,
            from: buffer,
            streamingFrom: threshold,
            piecesAbove: pieceLimit,
            checksumWhileCopying: self.checksumsWhileCopying,
            base: self.base,
            medium: self.medium,
            sequence: self.region.sequence
        )
    }

    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` into `medium`, whose base address is `base`, for an entry of
    /// the region with sequence number `sequence`; with a `nil` threshold, nothing is streamed.
    ///
    /// The checksum is computed after the copy, from the caller's bytes, which the copy has just read into
    /// the cache; except for streamed lines of ``streamedLinesChecksummedWhileCopiedFrom`` bytes or more given
    /// `checksumWhileCopying` (the writer's ``checksumsWhileCopying``), which are checksummed as they are
    /// copied, and otherwise for streamed lines longer than `pieceLimit`, which are checksummed and copied
    /// ``checksummedPiece`` bytes at a time, so that the checksum of one piece overlaps the write-back of
    /// the one before.
    @discardableResult
    static func copyAndSeal(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        streamingFrom threshold: Int?,
        piecesAbove pieceLimit: Int = RegionWriter.checksummedPiece,
        checksumWhileCopying: Bool,
        base: UnsafeMutableRawPointer,
        medium: any PersistentMedium,
        sequence: UInt64
    ) -> Range<Int>? {
        assert(buffer.count == entry.size, "the bytes of another entry")
        let dataOffset = entry.offset + EntryHeader.size
        guard let threshold,
            let lines = Self.streamedLines(entryOffset: entry.offset, dataSize: buffer.count, threshold: threshold)
        else {
            Self.copyWithoutFlush(buffer, toOffset: dataOffset, base: base, medium: medium)
            let checksum = EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer)
            Self.storeHeader(of: entry, checksum: checksum, base: base, sequence: sequence)
            return nil
        }
        let (head, tail) = (lines.lowerBound - dataOffset, lines.upperBound - dataOffset)
        let start = UnsafeRawBufferPointer(rebasing: buffer[..<head])
        let end = UnsafeRawBufferPointer(rebasing: buffer[tail...])
        medium.copy(toOffset: dataOffset, from: start, flags: .noFlush)
        let checksum: UInt32
        if checksumWhileCopying, tail - head >= Self.streamedLinesChecksummedWhileCopiedFrom {
            let throughLines = Self.checksumCopying(
                buffer,
                from: head,
                to: tail,
                nonTemporallyTo: base + dataOffset + head,
                of: entry,
                sequence: sequence
            )
            medium.copy(toOffset: dataOffset + tail, from: end, flags: .noFlush)
            checksum = CRC32C.checksum(end, continuing: throughLines)
        } else if tail - head <= pieceLimit {
            medium.copy(
                toOffset: dataOffset + head,
                from: UnsafeRawBufferPointer(rebasing: buffer[head..<tail]),
                flags: .noDrain
            )
            medium.copy(toOffset: dataOffset + tail, from: end, flags: .noFlush)
            checksum = EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer)
        } else {
            var partial = EntryHeader.checksum(
                regionSequence: sequence,
                timestamp: entry.timestamp,
                dataSize: buffer.count,
                dataStart: start
            )
            for pieceStart in stride(from: head, to: tail, by: Self.checksummedPiece) {
                let piece = UnsafeRawBufferPointer(
                    rebasing: buffer[pieceStart..<min(pieceStart + Self.checksummedPiece, tail)]
                )
                partial = CRC32C.checksum(piece, continuing: partial)
                medium.copy(toOffset: dataOffset + pieceStart, from: piece, flags: .noDrain)
            }
            medium.copy(toOffset: dataOffset + tail, from: end, flags: .noFlush)
            checksum = CRC32C.checksum(end, continuing: partial)
        }
        Self.storeHeader(of: entry, checksum: checksum, base: base, sequence: sequence)
        return lines
    }

    /// Writes a reserved entry whole, with `buffer` as its data, and its terminator when `terminated`, with
    /// copies of whole words that ask for ``MemoryCopyFlags/nonTemporal`` stores and no drain: first the
    /// data's whole words after the cache line that holds the end of the header (the *body*), then the word
    /// the data ends in (padded with zeros) and the terminator, and last the header with the data's words
    /// in its line (the *head*). A drain makes all of it durable at once; recovery needs no order among
    /// them, since an entry whose header or data did not reach the medium fails its checksum
    /// (`Docs/Format.md`, "Appending").
    ///
    /// The header goes last because its checksum is computed only then, from the caller's bytes, while the
    /// body's lines are being written back: a drain waits for those lines whatever the CPU does meanwhile.
    /// A ``Pmem2Mapping`` on persistent memory writes such copies with non-temporal stores alone, so the
    /// drain waits for no flush of a cached line. Nothing else may store into the entry's lines first, or
    /// the non-temporal stores wait for those lines to be written back (the reservation stores no zero word
    /// here, see ``reserve(count:size:marking:reserved:)``). For entries of ``nonTemporalSizes``; those of at
    /// most ``assembledLimit`` bytes are written in one copy instead (``writeAssembled(_:from:terminated:medium:sequence:)``).
    ///
    /// With `checksumWhileCopying` (the writer's ``checksumsWhileCopying``), a body of
    /// ``bodyChecksummedWhileCopiedFrom`` bytes or more is checksummed as it is copied, after the header's
    /// words and the head: where the checksum folds with 256-bit registers, its checksum after the copy
    /// did not overlap the write-back.
    static func writeNonTemporally(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        terminated: Bool,
        checksumWhileCopying: Bool,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        assert(buffer.count == entry.size, "the bytes of another entry")
        if buffer.count <= Self.assembledLimit {
            Self.writeAssembled(entry, from: buffer, terminated: terminated, medium: medium, sequence: sequence)
            return
        }
        let flags: MemoryCopyFlags = [.nonTemporal, .noDrain]
        let dataOffset = entry.offset + EntryHeader.size
        let wholeWords = buffer.count & ~7
        let headCount = min(wholeWords, ((dataOffset + 63) & ~63) - dataOffset)
        // The checksum of the header's words and the data's whole words, when the body was checksummed as
        // it was copied.
        var checksumOfWords: UInt32?
        if headCount < wholeWords {
            let body = UnsafeRawBufferPointer(rebasing: buffer[headCount..<wholeWords])
            if checksumWhileCopying, body.count >= Self.bodyChecksummedWhileCopiedFrom {
                checksumOfWords = Self.checksumCopying(
                    buffer,
                    from: headCount,
                    to: wholeWords,
                    nonTemporallyTo: medium.baseAddress + dataOffset + headCount,
                    of: entry,
                    sequence: sequence
                )
            } else {
                medium.copy(toOffset: dataOffset + headCount, from: body, flags: flags)
            }
        }
        // The last, partial word of the data, if any, and then the terminator, if any: whichever comes first
        // goes where the whole words end.
        var ending: (partialWord: UInt64, terminator: UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &ending) {
            $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[wholeWords...]))
        }
        let endingWords = (buffer.count > wholeWords ? 0 : 8)..<(terminated ? 16 : 8)
        if !endingWords.isEmpty {
            withUnsafeBytes(of: &ending) { ending in
                let bytes = UnsafeRawBufferPointer(rebasing: ending[endingWords])
                medium.copy(toOffset: dataOffset + wholeWords, from: bytes, flags: flags)
            }
        }
        // The header and the head, at most 80 bytes (the head ends at the first line boundary after the
        // header, 0 to 56 bytes after it), in one copy.
        let checksum =
            if let checksumOfWords {
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[wholeWords...]), continuing: checksumOfWords)
            } else {
                EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer)
            }
        let header = EntryHeader.words(
            timestamp: entry.timestamp,
            dataSize: entry.size,
            checksum: checksum,
            regionSequence: sequence
        )
        var headerAndHead: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (header.timestamp, header.size, header.kindAndChecksum, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &headerAndHead) { words in
            UnsafeMutableRawBufferPointer(rebasing: words[EntryHeader.size...])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[..<headCount]))
            medium.copy(
                toOffset: entry.offset,
                from: UnsafeRawBufferPointer(rebasing: words[..<(EntryHeader.size + headCount)]),
                flags: flags
            )
        }
    }

    /// The image of an entry that ``writeAssembled(_:from:terminated:medium:sequence:)`` makes, as words: the
    /// header's three, the data's and the terminator.
    private typealias AssembledImage = InlineArray<36, UInt64>

    /// The largest data that ``writeNonTemporally(_:from:terminated:checksumWhileCopying:medium:sequence:)``
    /// writes with ``writeAssembled(_:from:terminated:medium:sequence:)``: what fits in its image, 256 bytes.
    /// On a Zen 5 CPU (AMD EPYC, family 26), synchronous 64 B appends took 233 – 283 ns so against 265 – 293
    /// in three calls (six alternating pairs, faster in each), 128 B 274 against 287 (medians); 256 B, with
    /// an image of 36 words against 28, 262 – 316 against 304 – 318 (six pairs, faster in each).
    static var assembledLimit: Int { (AssembledImage.count - 4) * 8 }

    /// Writes a small reserved entry whole, and its terminator when `terminated`, with one copy that asks for
    /// ``MemoryCopyFlags/nonTemporal`` stores and no drain, from an image of the entry assembled on the stack:
    /// the header, the data, zeros up to the next word and the terminator. One call into the medium rather
    /// than three; the checksum, of a few words, comes before the stores. As for a larger entry, the drain
    /// makes all of it durable at once, and recovery needs no order among the stores (`Docs/Format.md`,
    /// "Appending").
    private static func writeAssembled(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        terminated: Bool,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        let checksum = EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer)
        let header = EntryHeader.words(
            timestamp: entry.timestamp,
            dataSize: entry.size,
            checksum: checksum,
            regionSequence: sequence
        )
        let length = EntryHeader.footprint(dataSize: buffer.count)! + (terminated ? 8 : 0)
        var image = AssembledImage(repeating: 0)
        image[0] = header.timestamp
        image[1] = header.size
        image[2] = header.kindAndChecksum
        var words = image.mutableSpan
        var bytes = words.mutableBytes
        bytes.withUnsafeMutableBytes { assembled in
            UnsafeMutableRawBufferPointer(rebasing: assembled[EntryHeader.size...]).copyMemory(from: buffer)
            medium.copy(
                toOffset: entry.offset,
                from: UnsafeRawBufferPointer(rebasing: assembled[..<length]),
                flags: [.nonTemporal, .noDrain]
            )
        }
    }

    /// The sizes of entry a lone synchronous append writes with
    /// ``writeNonTemporally(_:from:terminated:checksumWhileCopying:medium:sequence:)``; others are copied with
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` and flushed.
    ///
    /// Above 4 KiB the copy is faster: it checksums a piece while the one before is written back. Measured
    /// with cache-line flushes on `/dev/shm`, ns per synchronous append, non-temporal against copied: 8 B
    /// 266 – 273 against 301 – 302, 64 B 276 – 281 against 299 – 303, 1 KiB 339 – 343 against 374 – 401, 4 KiB
    /// 502 – 505 against 565 – 575; but 8 KiB 750 against 690, 16 KiB 1 149 – 1 182 against 1 052 – 1 073.
    /// Measured again once the header was written last and the data with 32-byte stores, the limit raised
    /// against kept: 8 KiB 680 – 736 against 701 – 710, 16 KiB 1 193 – 1 285 against 1 194 – 1 200, 64 KiB
    /// 4 160 – 4 397 against 4 018 – 4 094. Those were AMD CPUs.
    ///
    /// On other CPUs the copy is faster below 512 B as well (see `pmemstream_cpu_is_amd`). On an Intel Xeon
    /// (family 6, model 207), a C loop of non-temporal stores against cached stores and a write-back of each
    /// line, with one `sfence` and an atomic operation after each entry: 8 B 325 – 374 against 202 – 227 ns,
    /// 128 B 351 – 470 against 217 – 229, 256 B 307 – 345 against 238 – 256, 512 B 269 – 304 against 281 – 348,
    /// 1 KiB 307 – 338 against 375 – 458; the benchmark's synchronous appends of 8 B took 368 – 375 ns against
    /// 429 – 502, 64 B 415 – 423 against 452 – 503 (Docs/Performance.md, nineteenth pass).
    static let nonTemporalSizes = (pmemstream_cpu_is_amd() ? 0 : 512)...4096

    /// Replaces ``nonTemporalSizes`` for the writers made while it is set, so that crash tests take both
    /// ways of writing a small lone entry on any CPU. Read once, when a writer is made.
    @TaskLocal static var nonTemporalSizesOverride: ClosedRange<Int>?

    /// A batch written by a synchronous append with nothing else of its region in flight is written with
    /// ``writeNonTemporally(_:into:terminated:checksumWhileCopying:medium:sequence:)`` when the size of every
    /// entry lies in this range; otherwise it is copied and flushed. Measured as above, ns per entry in batches
    /// of 64, non-temporal against copied: 512 B 78 – 98 against 96 – 103, 1 KiB 108 – 111 against 150 – 155,
    /// 2 KiB 143 – 149 against 154 – 158; no different at 4 KiB; but 16 KiB 850 – 898 against 756 – 812. Once
    /// entries of up to 256 bytes were written in one copy (``assembledLimit``), on a Zen 4 CPU (AMD EPYC,
    /// family 25; six alternating pairs, faster in each): 256 B 76 against 92, 320 B 86 against 104, 448 B 96
    /// against 121; no different at 128 and 192 B, and slower below (8 B 39 against 30, 64 B 47 against 39,
    /// 96 B 57 against 47), where a cache line holds several entries and one flush serves them all. On other
    /// CPUs from 512 B, as for lone entries (see ``nonTemporalSizes``): small non-temporal writes were slow on
    /// Intel's, and batches from 256 B were not measured there.
    static let nonTemporalBatchSizes = (pmemstream_cpu_is_amd() ? 256 : 512)...4096

    /// The piece of streamed lines that ``copyAndSeal(_:from:streamingFrom:piecesAbove:base:medium:sequence:)``
    /// checksums and then copies, when there are more. Measured in batches of 64 with cache-line flushes on
    /// `/dev/shm`: 64 KiB entries took 2.7 – 2.9 µs so against 3.6 – 3.8 with the checksum after the whole
    /// copy, 16 KiB entries 700 – 740 ns against 780 – 840; pieces of 1 or 2 KiB were slower, and so was
    /// checksumming entries of 2 and 4 KiB before copying them.
    private static let checksummedPiece = 4096

    /// The streamed lines above which an asynchronous append checksums and copies its data in pieces. No
    /// drain follows its copy, only the group-commit queue's lock, which waits for the copy's last stores;
    /// checksummed after the whole copy, the data overlaps that wait. Measured as above, in pieces against
    /// after the copy: 8 KiB 667 – 682 ns against 602 – 605, 16 KiB 1 014 – 1 058 against 950 – 964,
    /// 32 KiB 1 654 – 1 740 against 1 802 – 1 827, 64 KiB 3.1 – 3.2 µs against 3.7 – 3.8.
    static let asynchronousPieceLimit = 16 * 1024

    /// The fewest bytes of an entry's streamed lines that are copied while they are checksummed, where the
    /// writer ``checksumsWhileCopying``: entries of about 8 KiB and more. The copy is then
    /// `CRC32C.foldingChecksum(copying:nonTemporallyTo:continuing:)`, non-temporal stores as the medium's
    /// copy would make them.
    ///
    /// Where the checksum folds with 256-bit registers (CPUs with AVX2 and VPCLMULQDQ but no AVX-512), a
    /// copy and then the checksum of the same bytes did not overlap: in a C loop on a Zen 3 CPU, 64 KiB
    /// entries written 64 to a drain took 7.5 µs against 4.5 in one pass (4.4 for the copy alone), and
    /// 8.6 µs against 5.8 with a drain after each. Below 8 KiB the benchmark found a loss for the only
    /// entries streamed there, lone asynchronous ones: of 2 and 4 KiB, whose queuing waits for the stores as
    /// a drain would, they were 10 – 30 % slower in one pass (Docs/Performance.md, twenty-second pass).
    static let streamedLinesChecksummedWhileCopiedFrom = 6 * 1024

    /// The fewest bytes of an entry's body (see
    /// ``writeNonTemporally(_:from:terminated:checksumWhileCopying:medium:sequence:)``) that are copied while
    /// they are checksummed, where the writer ``checksumsWhileCopying``. On a Zen 3 CPU, batches of 4 KiB
    /// entries took 467 – 610 ns per entry so against 553 – 646 (thirteen alternating pairs), 2 KiB 276 – 357
    /// against 308 – 383; lone synchronous appends of 4 KiB 620 – 819 ns against 707 – 1 121 (eight pairs),
    /// 2 KiB 460 – 729 against 502 – 753. From 512 rather than 1 024 bytes (the folding checksum's own limit,
    /// `CRC32C.foldingLimit`), eight more pairs: synchronous 1 KiB appends 458 – 573 ns against 561 – 633,
    /// batches of 1 KiB 162 – 292 against 202 – 295, synchronous 768-byte appends 486 – 622 against
    /// 507 – 598; 512-byte entries, whose bodies are mostly shorter, no different.
    static let bodyChecksummedWhileCopiedFrom = 512

    /// The checksum of `entry` (of region `sequence`, with `data` as its data) so far as `data[..<end]`,
    /// copying `data[start..<end]` to `destination` with non-temporal stores as it checksums them, in one
    /// pass (`CRC32C.foldingChecksum(copying:nonTemporallyTo:continuing:)`); continued over the rest of the
    /// data, it is the entry's checksum. Only where the writer ``checksumsWhileCopying``, for whole words.
    @inline(__always)
    private static func checksumCopying(
        _ data: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int,
        nonTemporallyTo destination: UnsafeMutableRawPointer,
        of entry: InFlightEntry,
        sequence: UInt64
    ) -> UInt32 {
        let beforeStart = EntryHeader.checksum(
            regionSequence: sequence,
            timestamp: entry.timestamp,
            dataSize: data.count,
            dataStart: UnsafeRawBufferPointer(rebasing: data[..<start])
        )
        return CRC32C.foldingChecksum(
            copying: UnsafeRawBufferPointer(rebasing: data[start..<end]),
            nonTemporallyTo: destination,
            continuing: beforeStart
        )
    }

    /// Entries shorter than this are copied with a plain `memmove` rather than through the medium's copy.
    /// Measured with cache-line flushes on `/dev/shm`, a synchronous append of 64 bytes took 6–10 ns less
    /// so, and one of 1 KiB 20 ns more (libpmem2 copies with wide stores).
    private static let plainCopyLimit = 256

    /// Copies `buffer` to `offset` in the medium at `base` without a flush: what the medium's copy with
    /// ``MemoryCopyFlags/noFlush`` does, with plain stores for short buffers.
    @inline(__always)
    private static func copyWithoutFlush(
        _ buffer: UnsafeRawBufferPointer,
        toOffset offset: Int,
        base: UnsafeMutableRawPointer,
        medium: any PersistentMedium
    ) {
        guard buffer.count < Self.plainCopyLimit else {
            medium.copy(toOffset: offset, from: buffer, flags: .noFlush)
            return
        }
        if let source = buffer.baseAddress {
            (base + offset).copyMemory(from: source, byteCount: buffer.count)
        }
    }

    /// Flushes `count` sealed, consecutive entries (`entry` gives each, by index) and the word after the
    /// last (its terminator), except the streamed lines that ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` flushed
    /// already: one call for the whole range when it flushed none, the usual case, and one per range around
    /// them otherwise.
    func flushSealed(count: Int, streamingFrom threshold: Int?, entry: (_ index: Int) -> InFlightEntry) {
        let end = min(entry(count - 1).end + 8, self.state.dataEnd)
        var start = entry(0).offset
        guard let threshold, (0..<count).contains(where: { entry($0).size >= threshold }) else {
            self.medium.flush(start..<end)
            return
        }
        // A call per range, and nothing retained or released in between: an atomic operation after the
        // copy's non-temporal stores would wait for them before the flushes below are even issued.
        for index in 0..<count {
            guard
                let lines = Self.streamedLines(
                    entryOffset: entry(index).offset,
                    dataSize: entry(index).size,
                    threshold: threshold
                )
            else { continue }
            self.medium.flush(start..<lines.lowerBound)
            start = lines.upperBound
        }
        if start < end {
            self.medium.flush(start..<end)
        }
    }
}
