import PMemStream
import PMemStreamTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Everything at once, for ThreadSanitizer (`make tsan`) as much as for the assertions: many writers on one
/// region and on others, in every append form; followers of a region and of the whole stream; waits, some
/// cancelled; and regions allocated, written, read and freed under their readers. Then a restart, which
/// must find every acknowledged entry.
///
/// Longer runs: `PMEMSTREAM_STRESS_OPERATIONS` (per writer; default 150).
@Suite("Concurrency stress", .timeLimit(.minutes(5)))
struct ConcurrencyStressTests {
    static let operations: Int = {
        guard let value = getenv("PMEMSTREAM_STRESS_OPERATIONS") else { return 150 }
        return Int(String(cString: value)) ?? 150
    }()

    /// An entry's bytes: who wrote it and which of its appends it was, then filler derived from both, so
    /// that a reader can tell a whole entry from a torn or foreign one.
    static func payload(writer: Int, index: Int, size: Int) -> [UInt8] {
        let head = [UInt8(writer)] + withUnsafeBytes(of: UInt32(index).littleEndian, Array.init)
        return head + (0..<max(size, 0)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ writer &* 7 &+ index) }
    }

    static func isWhole(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 5 else { return false }
        let index = Int(UInt32(littleEndian: bytes[1..<5].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
        return bytes == payload(writer: Int(bytes[0]), index: index, size: bytes.count - 5)
    }

    @Test("writers, followers, waits, cancellations and frees at once; every acknowledged entry survives")
    func everythingAtOnce() async throws {
        let operations = Self.operations
        // Room for every writer's entries (at most two of up to 732 bytes each per operation), whatever
        // the number of operations, and for the regions the churn allocates.
        let perWriter = max(operations, 512) * 2048
        let medium = SimulatedMedium(size: 6 * perWriter + (8 << 20))
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 2, maxQueuedAppends: 64))
        let shared = try await stream.allocateRegion(size: 4 * perWriter)
        let own = [try await stream.allocateRegion(size: perWriter), try await stream.allocateRegion(size: perWriter)]
        let total = 6 * operations

        let followers = [
            Task {
                try await Self.follow(stream.entries(in: shared, follow: true), count: 4 * operations, stable: [shared])
            },
            Task {
                try await Self.follow(stream.entries(since: 0, follow: true), count: total, stable: [shared] + own)
            },
        ]
        let acknowledged = try await withThrowingTaskGroup(of: [Entry].self) { group in
            for writer in 0..<6 {
                let region = writer < 4 ? shared : own[writer - 4]
                group.addTask { try await Self.write(stream, region: region, writer: writer, operations: operations) }
            }
            group.addTask {
                try await Self.churn(stream, rounds: operations / 10)
                return []
            }
            group.addTask {
                try await Self.waitAndCancel(stream, rounds: operations)
                return []
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(try await followers[0].value == 4 * operations, "the shared region's follower saw every entry")
        #expect(try await followers[1].value >= total, "the merged follower saw every entry")
        #expect(stream.persistedTimestamp <= stream.committedTimestamp)
        try await stream.close()

        let (reopened, _) = try restart(medium, blockSize: PMemStream.Configuration.defaultBlockSize)
        var found: [UInt64: [UInt8]] = [:]
        for try await entry in reopened.entries() {
            found[entry.timestamp] = try entry.bytes
        }
        let lost = try acknowledged.filter { try found[$0.timestamp] != $0.bytes }
        #expect(lost.isEmpty, "\(lost.count) acknowledged entries missing or different after the restart")
    }

    /// Appends `operations` entries in turn synchronously, asynchronously, as a pair, and through a
    /// reservation; returns those acknowledged persisted.
    private static func write(_ stream: PMemStream, region: Region, writer: Int, operations: Int) async throws
        -> [Entry]
    {
        let appender = try await stream.writer(for: region)
        var acknowledged: [Entry] = []
        var index = 0
        while index < operations {
            let bytes = payload(writer: writer, index: index, size: (index * 37 + writer * 11) % 700)
            switch index % 4 {
            case 0:
                acknowledged.append(try await appender.append(bytes))
            case 1:
                let receipt = try await appender.appendAsync(bytes)
                if index % 8 == 1 {
                    try await receipt.persisted()
                    acknowledged.append(receipt.entry)
                }
            case 2 where index + 1 < operations:
                let next = payload(writer: writer, index: index + 1, size: 3)
                acknowledged += try await appender.append(contentsOf: [bytes, next])
                index += 1
            default:
                let reservation = try await appender.reserve(bytes.count + 16)
                reservation.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
                acknowledged.append(try await reservation.publish(size: bytes.count))
            }
            index += 1
        }
        return acknowledged
    }

    /// Reads `sequence` until it has seen `count` entries; each must be whole and later than the one before.
    /// An entry of a region the churn freed just after the entry was yielded can no longer be read: that
    /// is `regionFreed`, never other bytes.
    private static func follow<S: AsyncSequence<Entry, PMemStreamError>>(
        _ sequence: S,
        count: Int,
        stable: [Region]
    ) async throws -> Int {
        var seen = 0
        var last: UInt64 = 0
        for try await entry in sequence {
            #expect(entry.timestamp > last, "entries come in timestamp order")
            do throws(PMemStreamError) {
                let bytes = try entry.bytes
                #expect(Self.isWhole(bytes), "entry \(entry.timestamp) is whole")
            } catch {
                let churned = error.code == .regionFreed && !stable.contains(entry.region)
                #expect(churned, "only an entry of a region the churn freed may be unreadable: \(error)")
            }
            last = entry.timestamp
            seen += 1
            if seen >= count { break }
        }
        return seen
    }

    /// Allocates a region, writes to it, and frees it while a follower reads it: the follower ends, by the
    /// end of the region's entries or with `regionFreed`, never with anything else.
    private static func churn(_ stream: PMemStream, rounds: Int) async throws {
        for round in 0..<rounds {
            let region = try await stream.allocateRegion(size: 64 * 1024)
            let writer = try await stream.writer(for: region)
            for index in 0..<5 {
                _ = try await writer.appendAsync(payload(writer: 200, index: round * 5 + index, size: index * 50))
            }
            let reader = Task {
                var seen = 0
                for try await entry in stream.entries(in: region, follow: true) {
                    #expect(Self.isWhole(try entry.bytes))
                    seen += 1
                }
                #expect(seen <= 5)
            }
            await Task.yield()
            try await stream.free(region)
            let ending = await thrownErrorCode { try await reader.value }
            #expect(ending == nil || ending == .regionFreed)
        }
    }

    /// Waits for watermarks, and starts waits that are cancelled at once: each returns or is cancelled.
    private static func waitAndCancel(_ stream: PMemStream, rounds: Int) async throws {
        for round in 0..<rounds {
            let target = stream.committedTimestamp
            guard target > 0 else {
                await Task.yield()
                continue
            }
            try await stream.waitCommitted(target)
            let wait = Task { try await stream.waitPersisted(target) }
            if round % 2 == 0 {
                wait.cancel()
            }
            let ending = await thrownErrorCode { try await wait.value }
            #expect(ending == .cancelled || (ending == nil && stream.persistedTimestamp >= target))
        }
    }
}
