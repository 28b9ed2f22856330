/// The version written into files' `created_by` metadata and printed by `mlpconv --version`.
enum MLPConvVersion {
    static let string = "0.1.0"
}
