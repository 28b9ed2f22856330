/// The version written into files' `created_by` metadata and printed by `mlpconv --version`.
public enum MLPConvVersion {
    public static let string = "0.1.0"
}
