// `package`: the filter table is keyed by HDF5 filter ids.
package import CHDF5

/// What a reader of untrusted HDF5 files accepts of HDF5's storage features.
package enum HDF5ReadPolicy {
    /// Filters a dataset may use: what mlpconv's writer uses (shuffle, gzip) and the harmless fletcher32.
    /// Anything else is refused — an unknown filter id also makes HDF5 search its plugin path for code to load.
    package static var acceptedFilters: [H5Z_filter_t: String] {
        [mlp_H5Z_FILTER_SHUFFLE(): "shuffle", mlp_H5Z_FILTER_DEFLATE(): "gzip", mlp_H5Z_FILTER_FLETCHER32(): "fletcher32"]
    }

    package static var deflateFilter: H5Z_filter_t { mlp_H5Z_FILTER_DEFLATE() }

    /// deflate expands at most ~1032:1 (a run of zeros costs at least two bits per 258 bytes); a gzip dataset
    /// that claims to decode to more than this times its stored size cannot be what it says.
    package static let maxDeflateRatio = 1032
}
