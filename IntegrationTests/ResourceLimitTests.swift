import Glibc
import PMemStream
import PMemStreamTestKit
import Testing

/// What a stream does when the system refuses it resources, in a child process whose limits are lowered.
@Suite("Resource limits")
struct ResourceLimitTests {
    @Test("a persist worker that cannot start is outOfResources, and the medium is free for the next writer")
    func workerThreadRefused() async {
        await Spawned.expectTestPassesInChild(
            "workerThreadRefusedInChild",
            environment: ["PMEMSTREAM_RESOURCE_LIMIT_CHILD=1"]
        )
    }

    /// Run by ``workerThreadRefused()`` in a child: its address space leaves room for a few thread stacks of
    /// 8 MiB, not for the 64 workers asked for.
    @Test(.enabled(if: getenv("PMEMSTREAM_RESOURCE_LIMIT_CHILD") != nil))
    func workerThreadRefusedInChild() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let medium = try Pmem2Mapping(path: path, size: 1 << 20)
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
            let unlimited = limit.rlim_cur
            limit.rlim_cur = rlim_t(try Self.addressSpaceInUse() + 48 << 20)
            try #require(setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0)
            let error = #expect(throws: PMemStreamError.self) {
                _ = try PMemStream(
                    medium: medium,
                    configuration: .init(persistWorkers: PMemStream.Configuration.maxPersistWorkers)
                )
            }
            #expect(error?.code == .outOfResources)
            limit.rlim_cur = unlimited
            try #require(setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0)
            #expect(throws: Never.self, "the failed open released the writer's lock") {
                _ = try PMemStream(medium: try Pmem2Mapping(path: path), configuration: .init(persistWorkers: 0))
            }
            withExtendedLifetime(medium) {}
        }
    }

    /// The process's address space in bytes (`VmSize` in `/proc/self/status`).
    private static func addressSpaceInUse() throws -> Int {
        let fd = open("/proc/self/status", O_RDONLY)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let line = String(decoding: buffer[0..<max(count, 0)], as: UTF8.self)
            .split(separator: "\n").first { $0.hasPrefix("VmSize:") }
        let fields = line?.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let kibibytes = try #require(fields.flatMap { $0.dropFirst().first.flatMap { Int($0) } })
        return kibibytes << 10
    }
}
