/// The threads of one measurement and how they share regions.
struct ThreadConfiguration: Hashable, Sendable, CustomStringConvertible {
    /// How many threads append (or read) at once.
    let threads: Int
    /// Where they append; irrelevant, and always ``RegionLayout/perThread``, for one thread.
    let layout: RegionLayout

    /// The configurations for the given thread counts and layouts: one thread once, and every other
    /// count with each layout.
    static func matrix(threads: [Int], layouts: [RegionLayout]) -> [ThreadConfiguration] {
        var configurations: [ThreadConfiguration] = []
        for count in threads {
            for layout in count == 1 ? [.perThread] : layouts {
                let configuration = ThreadConfiguration(threads: count, layout: layout)
                if !configurations.contains(configuration) {
                    configurations.append(configuration)
                }
            }
        }
        return configurations
    }

    /// "1 thread", "2 threads, one region per thread", …
    var description: String {
        self.threads == 1 ? "1 thread" : "\(self.threads) threads, \(self.layout.label)"
    }
}
