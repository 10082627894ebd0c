import TopiaryTensor

extension TimeSeriesFile {
    /// The cases as a classification data set: features (caseCount, dimensions × seriesLength),
    /// each case's channels one after another, with item shape [dimensions, seriesLength].
    /// A programmer error unless `target` is `.classLabels`.
    public func classificationDataset() -> LabeledDataset {
        guard let classLabels, let classIndices else {
            preconditionFailure("\(path) declares no class labels (target \(target)); a classification data set needs them")
        }
        return LabeledDataset(features: Tensor(shape: [caseCount, dimensions * seriesLength], values: values),
                              labels: classIndices, classCount: classLabels.count, itemShape: [dimensions, seriesLength])
    }
}
