extension AsyncSequence {
    /// Every element, in order: for tests that compare a whole sequence at once.
    ///
    /// ```swift
    /// #expect(try await stream.entries().collect().map(\.timestamp) == [1, 2, 3])
    /// ```
    public func collect() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self {
            elements.append(element)
        }
        return elements
    }
}
