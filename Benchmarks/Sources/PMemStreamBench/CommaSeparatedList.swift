import ArgumentParser

/// A command-line value of the form `a,b,c`, each element parsed by its own `ExpressibleByArgument`.
struct CommaSeparatedList<Element: ExpressibleByArgument & Sendable>: ExpressibleByArgument, Sendable {
    /// The elements, in the order given.
    let elements: [Element]

    /// Parses `a,b,c`; fails when any element does not parse or the list is empty.
    init?(argument: String) {
        var elements: [Element] = []
        for part in argument.split(separator: ",") {
            guard let element = Element(argument: part.trimmingCharacters(in: " ")) else { return nil }
            elements.append(element)
        }
        guard !elements.isEmpty else { return nil }
        self.elements = elements
    }

    /// A list with these elements.
    init(_ elements: [Element]) {
        self.elements = elements
    }

    /// The list as it is written on the command line.
    var defaultValueDescription: String {
        self.elements.map { "\($0.defaultValueDescription)" }.joined(separator: ",")
    }
}

extension Substring {
    /// The substring without leading and trailing `character`s.
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(self.drop(while: { $0 == character }).reversed().drop(while: { $0 == character }).reversed())
    }
}
