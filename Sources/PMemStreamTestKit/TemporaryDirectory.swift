#if os(Linux)
    import Glibc
#endif

/// A directory of its own for files a test creates, removed with everything in it when the test is done.
///
/// ```swift
/// try withTemporaryDirectory { directory in
///     let medium = try Pmem2Mapping(path: directory.path("log"), size: 1 << 20)
/// }
/// ```
public struct TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// The path of a file called `name` inside the directory.
    ///
    /// - Parameter name: The file's name.
    /// - Returns: The file's absolute path.
    public func path(_ name: String) -> String {
        "\(self.path)/\(name)"
    }
}

/// Runs `body` with a new, empty directory, and removes the directory afterwards.
///
/// - Parameters:
///   - parent: Where to make the directory; `nil` for `$TMPDIR`, or `/tmp` when that is not set.
///   - body: The code that uses the directory.
/// - Returns: What `body` returns.
public func withTemporaryDirectory<R, E: Error>(
    in parent: String? = nil,
    _ body: (TemporaryDirectory) async throws(E) -> R
) async throws(E) -> R {
    let directory = makeTemporaryDirectory(in: parent)
    defer { removeTree(directory.path) }
    return try await body(directory)
}

private func makeTemporaryDirectory(in parent: String?) -> TemporaryDirectory {
    let parent = parent ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(parent)/pmemstream-test-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(created != nil, "mkdtemp under \(parent) failed with errno \(errno)")
    return TemporaryDirectory(path: String(cString: created!))
}

private func removeTree(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != ".", name != ".." else { continue }
            removeTree("\(path)/\(name)")
        }
        closedir(directory)
        rmdir(path)
    } else {
        unlink(path)
    }
}
