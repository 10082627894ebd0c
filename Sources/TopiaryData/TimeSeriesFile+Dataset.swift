import TopiaryTensor

extension TimeSeriesFile {
    /// The cases as a classification data set: inputs (caseCount, dimensions, seriesLength),
    /// one series per row, classes in the declared order. A programmer error unless `target`
    /// is `.classLabels`.
    public func classificationDataset() -> Dataset {
        guard let classLabels, let classIndices else {
            preconditionFailure("\(path) declares no class labels (target \(target)); a classification data set needs them")
        }
        return Dataset(inputs: Tensor(shape: [caseCount, dimensions, seriesLength], values: values),
                       labels: classIndices, classCount: classLabels.count)
    }
}
