import Testing

@testable import PMemStream

@Suite("Store granularity of a mapping")
struct StoreGranularityTests {
    @Test(
        "PMEM2_FORCE_GRANULARITY decides when it names a granularity, in any case; otherwise MAP_SYNC does",
        arguments: [
            (nil, false, StoreGranularity.page),
            (nil, true, .cacheLine),
            ("CACHE_LINE", false, .cacheLine),
            ("cache_line", false, .cacheLine),
            ("CacheLine", false, .cacheLine),
            ("byte", false, .byte),
            ("Page", true, .page),
            ("", true, .cacheLine),
            ("cache line", false, .page),
            ("BYTES", true, .cacheLine),
        ] as [(String?, Bool, StoreGranularity)]
    )
    func chosen(forced: String?, synchronous: Bool, expected: StoreGranularity) {
        #expect(StoreGranularity(synchronousMapping: synchronous, forced: forced) == expected)
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
