import HDF5Support
import MLPCore
import MLPDocument

// The optimizer-level scalars: `/optimizer@scalars` lists them, and each is a float64 attribute of `/optimizer`.
extension HDF5ModelReader {
    /// The names `/optimizer@scalars` lists (none when absent); each must have its attribute.
    func scalarNames(_ group: HDF5Group, names: [String]) throws(ModelFileError) -> [String] {
        guard names.contains(Name.scalars) else { return [] }
        let listed = try wrap(group.stringArrayAttribute(Name.scalars))
        for key in listed {
            if Name.optimizerReserved.contains(key) {
                throw fail("/\(Name.optimizer)@\(Name.scalars)", "lists \"\(key)\", which is not a scalar's name")
            }
            guard names.contains(key) else {
                throw fail("/\(Name.optimizer)@\(key)", "missing (it is listed in \(Name.scalars))")
            }
        }
        return listed
    }

    /// Exactly the scalars the configuration keeps, in its order.
    func readScalars(_ group: HDF5Group, config: OptimizerConfig) throws(ModelFileError) -> [ModelDocument.OptimizerRecord.Scalar] {
        let path = "/\(Name.optimizer)"
        let names = try wrap(group.attributeNames(limit: 1000))
        let listed = try scalarNames(group, names: names)
        let expected = config.scalarNames
        let keeps = "\(config.kind.name) with these settings keeps "
            + (expected.isEmpty ? "no scalars" : "scalars " + expected.joined(separator: ", "))
        if let unexpected = listed.first(where: { !expected.contains($0) }) {
            throw fail("\(path)@\(unexpected)", "unexpected scalar (\(keeps))")
        }
        var scalars: [ModelDocument.OptimizerRecord.Scalar] = []
        for name in expected {
            guard listed.contains(name) else { throw fail("\(path)@\(name)", "missing scalar (\(keeps))") }
            guard case .double(let value) = try wrap(group.attribute(name)) else {
                throw fail("\(path)@\(name)", "expected a float64 number")
            }
            scalars.append(.init(name: name, value: value))
        }
        return scalars
    }
}
