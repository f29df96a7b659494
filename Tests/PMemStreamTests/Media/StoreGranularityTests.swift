import Glibc
import PMemStreamTestKit
import Testing

@testable import PMemStream

@Suite("Store granularity of a mapping")
struct StoreGranularityTests {
    @Test(
        "PMEM2_FORCE_GRANULARITY decides when it names a granularity, in any case; otherwise MAP_SYNC and eADR do",
        arguments: [
            (nil, false, false, StoreGranularity.page),
            (nil, false, true, .page),
            (nil, true, false, .cacheLine),
            (nil, true, true, .byte),
            ("CACHE_LINE", false, false, .cacheLine),
            ("cache_line", true, true, .cacheLine),
            ("CacheLine", false, false, .cacheLine),
            ("byte", false, false, .byte),
            ("Page", true, true, .page),
            ("", true, false, .cacheLine),
            ("cache line", false, false, .page),
            ("BYTES", true, false, .cacheLine),
        ] as [(String?, Bool, Bool, StoreGranularity)]
    )
    func chosen(forced: String?, synchronous: Bool, cachesArePersistent: Bool, expected: StoreGranularity) {
        let chosen = StoreGranularity(
            synchronousMapping: synchronous,
            cachesArePersistent: cachesArePersistent,
            forced: forced
        )
        #expect(chosen == expected)
    }

    @Test("eADR is every NVDIMM region reporting cpu_cache as its persistence domain, and at least one region")
    func eADRDetection() async {
        await withTemporaryDirectory { directory in
            let devices = directory.path("devices")
            #expect(!SystemCalls.cachesArePersistent(devices: devices), "no device directory")
            #expect(mkdir(devices, 0o755) == 0)
            #expect(!SystemCalls.cachesArePersistent(devices: devices), "no region")
            func region(_ name: String, domain: String?) {
                #expect(mkdir("\(devices)/\(name)", 0o755) == 0)
                guard let domain else { return }
                let fd = open("\(devices)/\(name)/persistence_domain", O_WRONLY | O_CREAT, 0o644)
                defer { close(fd) }
                var line = domain + "\n"
                _ = line.withUTF8 { write(fd, $0.baseAddress, $0.count) }
            }
            region("ndbus0", domain: nil)
            region("region0", domain: "cpu_cache")
            #expect(SystemCalls.cachesArePersistent(devices: devices))
            region("region1", domain: "memory_controller")
            #expect(!SystemCalls.cachesArePersistent(devices: devices), "one region without eADR")
            #expect(rename("\(devices)/region1", "\(devices)/dax1.0") == 0)
            #expect(SystemCalls.cachesArePersistent(devices: devices), "only regions count")
            region("region2", domain: nil)
            #expect(!SystemCalls.cachesArePersistent(devices: devices), "a region that reports no domain")
        }
    }

    @Test("a granularity satisfies a requirement of itself or anything coarser")
    func requirement() {
        let all: [StoreGranularity] = [.byte, .cacheLine, .page]
        for (index, granularity) in all.enumerated() {
            for (requiredIndex, required) in all.enumerated() {
                #expect(granularity.isAtLeastAsFine(as: required) == (index <= requiredIndex))
            }
        }
    }
}
