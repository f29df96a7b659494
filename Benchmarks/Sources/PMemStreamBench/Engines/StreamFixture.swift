import Glibc
import PMemStream

/// A fresh stream for one iteration of a PMemStream engine: the file, mapped and prefaulted, and the regions
/// and writers of the threads, all made before timing starts.
struct StreamFixture: Sendable {
    /// The open stream.
    let stream: PMemStream
    /// The region each thread uses, by thread index (the same region for all with one region).
    let regions: [Region]
    /// The writer of each thread's region, by thread index.
    let writers: [RegionWriter]

    private let path: String

    /// Creates the stream at `workload.path` with room for `workload.count` entries per thread, laid out as
    /// `layout` says; with `workload.recoveredRegions`, closes it and opens it again before making the writers.
    /// A set-up that fails after the stream opened closes it.
    ///
    /// - Throws: ``BenchmarkError`` when the regions would not hold the entries; the errors of the library.
    static func make(_ workload: Workload, layout: RegionLayout) async throws -> StreamFixture {
        try ScratchFile.remove(workload.path)
        let threads = workload.threads
        let regionCount = layout == .oneRegion ? 1 : threads
        let regionData = workload.count * workload.entryFootprint * (threads / regionCount) + 64
        // 64 KiB of slack per region and for the stream header cover the rounding to any block size up to it.
        let slack = 64 << 10
        let size = (regionCount + 1) * slack + regionCount * regionData
        let open = {
            try PMemStream(medium: try Pmem2Mapping(path: workload.path, size: size, options: .init(prefault: true)))
        }
        var stream = try open()
        do {
            var created: [Region] = []
            for _ in 0..<regionCount {
                created.append(try await stream.allocateRegion(size: regionData))
            }
            if workload.recoveredRegions {
                try await stream.close()
                stream = try open()
                for (index, region) in created.enumerated() {
                    created[index] = try await stream.region(atOffset: region.offset)
                }
            }
            var createdWriters: [RegionWriter] = []
            for region in created {
                let writer = try await stream.writer(for: region)
                guard await writer.availableSize >= regionData - 64 else {
                    throw BenchmarkError("a region of \(regionData) bytes holds less than the benchmark expects")
                }
                createdWriters.append(writer)
            }
            let regions = (0..<threads).map { created[$0 % regionCount] }
            let writers = (0..<threads).map { createdWriters[$0 % regionCount] }
            return StreamFixture(stream: stream, regions: regions, writers: writers, path: workload.path)
        } catch {
            // The stream is closed (again, when reopening it failed); the session deletes the file.
            try? await stream.close()
            throw error
        }
    }

    /// Closes the stream and deletes its file.
    func remove() async throws {
        try await self.stream.close()
        try ScratchFile.remove(self.path)
    }
}
