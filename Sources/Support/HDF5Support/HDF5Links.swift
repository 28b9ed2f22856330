// Links: listing a group's members without following them, and refusing paths through external links.
internal import CHDF5

// The box the iteration callback (a plain C function pointer, no captures) appends to through `op_data`.
private final class HDF5LinkCollector { var links: [(name: String, type: H5L_type_t)] = [] }

extension HDF5Container {
    /// Whether a link of this name exists here (not following it).
    package func hasMember(_ name: String) throws(HDF5Error) -> Bool {
        let target = site.child(name)
        try HDF5Path.validate(name, target, "look up member")
        if name.contains("/") {
            throw target.error(.unsupported, "look up member", "a member name cannot contain '/'")
        }
        let lapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_LINK_ACCESS(), site: target)
        return try hdf5 { () throws(HDF5Error) in
            try target.bool(H5Lexists(id, name, lapl.id), "look up member")
        }
    }

    /// The links in this group, sorted by name, each with what it points to. Links are described, never
    /// followed: soft and external links are reported as such (with their targets).
    ///
    /// - Parameter limit: the most members to accept; the count is checked before anything is collected.
    package func members(limit: Int = 1_000_000) throws(HDF5Error) -> [HDF5Member] {
        let site = self.site
        let operation = "list group members"
        let lapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_LINK_ACCESS(), site: site)
        return try hdf5 { () throws(HDF5Error) in
            var groupInfo = H5G_info_t()
            try site.status(H5Gget_info(id, &groupInfo), operation)
            if groupInfo.nlinks > UInt64(max(limit, 0)) {
                throw site.error(.size, operation, "\(groupInfo.nlinks) members exceed the limit of \(limit)")
            }

            // The iteration callback is a C function pointer: it only records names and link types; the
            // follow-up queries run after the iteration, outside the callback.
            let collector = HDF5LinkCollector()
            let status = withExtendedLifetime(collector) {
                H5Literate(id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, info, data in
                    guard let name, let info, let data else { return -1 }
                    Unmanaged<HDF5LinkCollector>.fromOpaque(data).takeUnretainedValue().links
                        .append((String(cString: name), info.pointee.type))
                    return 0
                }, Unmanaged.passUnretained(collector).toOpaque())
            }
            try site.status(status, operation)

            var members: [HDF5Member] = []
            members.reserveCapacity(collector.links.count)
            for link in collector.links {
                let member = site.child(link.name)
                switch link.type {
                case H5L_TYPE_HARD:
                    var info = H5O_info_t()
                    try member.status(H5Oget_info_by_name2(id, link.name, &info, mlp_H5O_INFO_BASIC(), lapl.id),
                                      "describe member")
                    let kind: HDF5Member.Kind =
                        switch info.type {
                        case H5O_TYPE_GROUP: .group
                        case H5O_TYPE_DATASET: .dataset
                        case H5O_TYPE_NAMED_DATATYPE: .namedDatatype
                        default: .otherObject
                        }
                    members.append(HDF5Member(name: link.name, kind: kind))
                case H5L_TYPE_SOFT:
                    let target = try softLinkTarget(link.name, lapl: lapl, site: member)
                    members.append(HDF5Member(name: link.name, kind: .softLink(target: target)))
                case H5L_TYPE_EXTERNAL:
                    let value = try linkValue(link.name, lapl: lapl, site: member)
                    let (targetFile, targetObject) = try Self.unpackExternalLink(value, site: member)
                    members.append(HDF5Member(name: link.name,
                                              kind: .externalLink(file: targetFile, object: targetObject)))
                default:
                    members.append(HDF5Member(name: link.name, kind: .userDefinedLink(type: link.type.rawValue)))
                }
            }
            return members
        }
    }

    /// The raw value of a soft or external link (size checked first: link values are small).
    private func linkValue(_ name: String, lapl: HDF5PropertyList, site: HDF5Site) throws(HDF5Error) -> [UInt8] {
        try hdf5 { () throws(HDF5Error) in
            var info = H5L_info_t()
            try site.status(H5Lget_info(id, name, &info, lapl.id), "read link")
            let size = info.u.val_size
            guard size > 0, size <= 65_536 else {
                throw site.error(.size, "read link", "link value of \(size) bytes")
            }
            var buffer = [UInt8](repeating: 0, count: size)
            try site.status(H5Lget_val(id, name, &buffer, size, lapl.id), "read link")
            return buffer
        }
    }

    /// Where a soft link points (its value is the NUL-terminated target path).
    private func softLinkTarget(_ name: String, lapl: HDF5PropertyList, site: HDF5Site) throws(HDF5Error) -> String {
        let value = try linkValue(name, lapl: lapl, site: site)
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func unpackExternalLink(_ value: [UInt8], site: HDF5Site) throws(HDF5Error) -> (String, String) {
        try hdf5 { () throws(HDF5Error) in
            var flags: UInt32 = 0
            var fileName: UnsafePointer<CChar>?
            var objectName: UnsafePointer<CChar>?
            // The unpacked pointers point into `value`, so they are turned into Strings inside the closure.
            let (status, names) = value.withUnsafeBytes { raw in
                let status = H5Lunpack_elink_val(raw.baseAddress, raw.count, &flags, &fileName, &objectName)
                return (status, (fileName.map { String(cString: $0) } ?? "?",
                                 objectName.map { String(cString: $0) } ?? "?"))
            }
            try site.status(status, "read external link")
            return names
        }
    }

    /// Refuses `path` if resolving it would pass through an external or user-defined link, naming that link.
    ///
    /// Components are resolved one at a time from the file root, and soft links are substituted by hand (at
    /// most 16, as HDF5 allows), so `H5Lget_info` is only ever asked about links whose parents are hard links:
    /// a soft link that leads to an external one is caught here too, with a message saying where. Missing
    /// components fail with the library's "not found".
    package func refuseExternalLinks(on path: String, operation: String) throws(HDF5Error) {
        let requested = site.child(path)
        func split(_ path: Substring) -> [Substring] {
            path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        }
        var components = split(requested.object[...])
        guard !components.isEmpty else { return }
        let lapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_LINK_ACCESS(), site: site)
        let rootID = file.id
        try hdf5 { () throws(HDF5Error) in
            var resolved: [Substring] = []  // hard links only, from the root
            var index = 0
            var softLinks = 0
            while index < components.count {
                let linkPath = "/" + (resolved + [components[index]]).joined(separator: "/")
                let here = HDF5Site(file: site.file, object: linkPath)
                var info = H5L_info_t()
                if H5Lget_info(rootID, linkPath, &info, lapl.id) < 0 {
                    var error = requested.libraryError(operation)
                    error.kind = .missing
                    error.reason = "no such object" + (linkPath == requested.object ? "" : " (\(linkPath) is missing)")
                    throw error
                }
                switch info.type {
                case H5L_TYPE_HARD:
                    resolved.append(components[index])
                    index += 1
                case H5L_TYPE_SOFT:
                    softLinks += 1
                    guard softLinks <= 16 else {
                        throw requested.error(.unsupported, operation, "more than 16 soft links on the way")
                    }
                    let target = try softLinkTarget(linkPath, lapl: lapl, site: here)
                    // A relative target is relative to the group holding the link.
                    components = (target.hasPrefix("/") ? [] : resolved) + split(target[...])
                        + components[(index + 1)...]
                    resolved = []
                    index = 0
                case H5L_TYPE_EXTERNAL:
                    let (file, object) = try Self.unpackExternalLink(
                        try linkValue(linkPath, lapl: lapl, site: here), site: here)
                    let link = "external link to '\(object)' in file '\(file)'"
                    let via = linkPath == requested.object ? link : "path goes through \(linkPath), an \(link)"
                    throw requested.error(.refused, operation, via + "; external links are refused")
                default:
                    throw requested.error(.refused, operation, "path goes through \(linkPath), a user-defined link "
                                              + "(type \(info.type.rawValue)); refused")
                }
            }
        }
    }
}
