// A short tour of the persistent medium: map a file, show the granularity it got (as libpmem2 would choose
// it), persist a message with libpmem2's functions, unmap, map again and read the message back.
//
// Usage: pmemstream-medium-tour [DIRECTORY]   (default: a new directory under /tmp)

import PMemStream

#if os(Linux)
    import Glibc
#endif

/// Maps `path`, persists `message` at offset 0, drops the mapping, maps the file again and prints what it holds.
func tour(path: String, label: String, message: String) throws(PMemStreamError) {
    print("== \(label): \(path)")
    do {
        let medium = try Pmem2Mapping(path: path, size: 1 << 20)
        print("   mapped \(medium.size) bytes, store granularity: \(medium.granularity)")
        print("   NUMA node: \(medium.numaNode.map(String.init) ?? "unknown (not a DAX device)")")
        let bytes = Array(message.utf8)
        bytes.withUnsafeBytes { medium.copy(toOffset: 0, from: $0, flags: .persist) }
        print("   persisted \(bytes.count) bytes: \"\(message)\"")
    }
    let remapped = try Pmem2Mapping(path: path)
    let readBack = UnsafeRawBufferPointer(start: remapped.baseAddress, count: message.utf8.count)
    print("   unmapped, mapped again, read back: \"\(String(decoding: readBack, as: UTF8.self))\"")
}

let arguments = CommandLine.arguments
var template = Array("/tmp/pmemstream-tour-XXXXXX".utf8CString)
let directory =
    arguments.count > 1
    ? arguments[1]
    : template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }

let numa = NUMATopology.system
let nodes = numa.nodesWithProcessors.sorted().map(String.init).joined(separator: ", ")
print("NUMA: \(numa.isAvailable ? "available, node(s) with processors: \(nodes)" : "not available")")
do {
    try tour(path: "\(directory)/tour.pmem", label: "an ordinary file", message: "hello, persistent world")
    // /dev/shm with forced cache-line granularity is how persistent memory is emulated without the hardware.
    if access("/dev/shm", W_OK) == 0 {
        setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1)
        let shmPath = "/dev/shm/pmemstream-tour-\(getpid()).pmem"
        defer { unlink(shmPath) }
        try tour(path: shmPath, label: "emulated persistent memory", message: "flushed line by line")
    }
    unlink("\(directory)/tour.pmem")
    if arguments.count == 1 {
        rmdir(directory)
    }
} catch {
    print("error: \(error.detailedDescription())")
    exit(1)
}
