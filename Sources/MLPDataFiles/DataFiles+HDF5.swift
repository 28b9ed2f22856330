import MLPCore
internal import HDF5Support

// HDF5 data files: datasets `/x` `[rows, inputs]` and optionally `/y` (`[rows, outputs]`, or a column of class
// labels), of any float or integer type. The wrappers in HDF5Handles.swift refuse external links, external raw
// storage and virtual datasets; sizes come from metadata and are checked before anything is read.

extension DataFiles {
    static func loadHDF5(_ path: String, shape: ModelShape, limits: DataLimits) throws(DataFileError) -> Dataset<Float> {
        let file = try hdf5Call { () throws(HDF5Error) in try HDF5File.openReadOnly(at: path) }
        let members = try hdf5Call { () throws(HDF5Error) in try file.members(limit: limits.maxArchiveEntries) }
        func listing() -> String {
            members.isEmpty ? "the file is empty" : "it holds " + members.map { "'\($0.name)'" }.joined(separator: ", ")
        }
        func member(_ name: String) throws(DataFileError) -> HDF5Dataset? {
            guard let found = members.first(where: { $0.name == name }) else { return nil }
            switch found.kind {
            case .dataset, .softLink, .externalLink, .userDefinedLink:
                // Links are resolved by openDataset, which refuses anything leaving the file.
                return try hdf5Call { () throws(HDF5Error) in try file.openDataset(name) }
            case .group:
                throw DataFileError(file: path, location: .dataset("/" + name), reason: "is a group, expected a dataset")
            default:
                throw DataFileError(file: path, location: .dataset("/" + name), reason: "is not a dataset")
            }
        }

        guard let x = try member("x") else {
            throw DataFileError(file: path, reason: "no dataset 'x' (the features); \(listing())")
        }
        let xSite = HDF5DataSite(file: path, dataset: "/x")
        let xInfo = try numericInfo(x, site: xSite, limits: limits)
        try checkFeatureShape(xInfo.shape, model: shape) { reason in xSite.error(reason) }
        let rows = xInfo.shape[0]

        let y = shape.ignoresTargets ? nil : try member("y")
        if y == nil, shape.requireTargets {
            throw DataFileError(file: path, reason: "no dataset 'y', but targets are needed; \(listing())")
        }

        var yLayout = ModelShape.Targets.none
        let ySite = HDF5DataSite(file: path, dataset: "/y")
        var yInfo: (shape: [Int], isInteger: Bool)?
        if let y {
            let info = try numericInfo(y, site: ySite, limits: limits)
            let xCount = xInfo.shape.reduce(1, *)
            if info.shape.reduce(1, *) > limits.maxValues - xCount {
                throw DataFileError(file: path, reason: "x and y together hold more than the limit of \(limits.maxValues) numbers")
            }
            yLayout = try checkTargetShape(info.shape, rows: rows, model: shape) { reason in ySite.error(reason) }
            yInfo = info
        }

        let features: [Float] = try hdf5Call { () throws(HDF5Error) in
            xInfo.isInteger ? try x.readValues(as: Int64.self, maxElements: limits.maxValues).map { Float($0) }
                : try x.readValues(as: Float.self, maxElements: limits.maxValues)
        }
        try checkFinite(features, columns: shape.inputs, vector: xInfo.shape.count == 1) { reason, index in
            xSite.error(reason, index: index)
        }
        guard let y, let yInfo else {
            return try dataset(path, features: features, featureWidth: shape.inputs, targets: [], targetWidth: 0)
        }
        let yValues: [Double] = try hdf5Call { () throws(HDF5Error) in
            yInfo.isInteger ? try y.readValues(as: Int64.self, maxElements: limits.maxValues).map { Double($0) }
                : try y.readValues(as: Double.self, maxElements: limits.maxValues)
        }
        let (targets, width) = try targets(yValues, layout: yLayout, vector: yInfo.shape.count == 1, model: shape) {
            reason, index in ySite.error(reason, index: index)
        }
        return try dataset(path, features: features, featureWidth: shape.inputs, targets: targets, targetWidth: width)
    }

    /// Shape and number kind of a dataset, refusing what is not a simple array of floats or integers, or is over
    /// the value cap — from metadata only.
    private static func numericInfo(_ dataset: HDF5Dataset, site: HDF5DataSite,
                                    limits: DataLimits) throws(DataFileError) -> (shape: [Int], isInteger: Bool) {
        let info = try hdf5Call { () throws(HDF5Error) in try dataset.info() }
        guard info.extent.kind == .simple else {
            throw site.error(info.extent.kind == .null ? "has no data (empty dataspace)" : "is a scalar, expected an array")
        }
        let isInteger: Bool
        switch info.type.typeClass {
        case .float: isInteger = false
        case .integer: isInteger = true
        default: throw site.error("holds \(info.type) values, expected floating-point numbers or integers")
        }
        guard let count = info.elementCount, count <= UInt64(limits.maxValues) else {
            throw site.error("shape \(info.shape) holds more than the limit of \(limits.maxValues) numbers")
        }
        // Every dimension fits an Int, since their product does.
        return (info.shape.map { Int($0) }, isInteger)
    }

    /// Runs HDF5 wrapper calls, turning their errors into data-file errors (the one-line reason, without the
    /// library's stack).
    static func hdf5Call<T>(_ body: () throws(HDF5Error) -> T) throws(DataFileError) -> T {
        do {
            return try body()
        } catch {
            throw DataFileError(file: error.file, location: error.object == "/" ? nil : .dataset(error.object),
                                reason: error.failure)
        }
    }
}

/// Where HDF5 data errors point.
struct HDF5DataSite {
    var file: String
    var dataset: String

    func error(_ reason: String, index: [Int]? = nil) -> DataFileError {
        DataFileError(file: file, location: .dataset(dataset, index: index), reason: reason)
    }
}
